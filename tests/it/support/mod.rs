//! What the tests share and none of them is: archive and folder builders, the mocked AWS
//! clients, the emulator's resources, and the fault proxy.

pub(crate) mod emulator;
pub(crate) mod faultproxy;
pub(crate) mod fixtures;
pub(crate) mod mocks;
