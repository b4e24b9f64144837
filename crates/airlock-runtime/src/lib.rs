//! Airlock's runtime: turns "run this code" into a jail spec for the right interpreter, and
//! the jail's outcome into the ExecutionResult of the contract.

pub mod env;
pub mod python;
pub mod request;
pub mod result;

pub use request::{ExecutionRequest, Grants};
pub use result::ExecutionResult;
