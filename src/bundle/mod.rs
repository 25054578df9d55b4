//! The revision bundle as bytes: safe paths, tar and gzip streams read and written the way the
//! agent's GNU tar sees them, the one-pass archive scan, the CodeDeploy folder, the merged
//! tree an instance gets, and the writer that splices them into one bundle.

pub(crate) mod cdfiles;
pub(crate) mod gzsplice;
pub(crate) mod paths;
pub(crate) mod scan;
pub mod tarstream;
pub(crate) mod tree;
pub mod writer;
