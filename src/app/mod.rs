//! The program as the user meets it: the command line ([`cli`]), the configuration resolved
//! from it and the environment and the dispatch to a command ([`dispatch`]), and the report on
//! stdout ([`report`]).

pub mod branches;
pub(crate) mod checkout;
pub mod cli;
pub mod dispatch;
pub(crate) mod notify;
pub mod report;
