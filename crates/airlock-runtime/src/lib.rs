//! Airlock's runtime: turns "run this code" into a jail spec for the right interpreter, and
//! the jail's outcome into the ExecutionResult of the contract.

pub mod env;
pub mod gate;
pub mod pool;
pub mod procmem;
pub mod python;
pub mod redact;
pub mod request;
pub mod result;
pub mod runner;
pub mod session;

pub use request::{CheckMode, ExecutionRequest, Grants, InputFile};
pub use result::ExecutionResult;
