//! Named failpoints in provisioning and offboarding (crate feature `failpoints`).
//!
//! Names: `provision:before:{step}` (after the step's Intent is journaled, before its side
//! effect), `provision:after:{step}` (after the side effect, before Done is journaled),
//! `offboard:after:{step}` and `rollback:after:{step}` (after a cleanup step).
//!
//! Actions: `return(abort)` aborts the process on the spot — a real crash, no destructors, no
//! cleanup — which is what the crash tests use; any other `return` fails the step with
//! [`Error::Injected`]. Without the feature every call compiles to `Ok(())`.

use crate::error::Result;

/// Evaluates the failpoint `name`.
#[cfg(feature = "failpoints")]
pub(crate) fn hit(name: &str) -> Result<()> {
    use crate::error::Error;
    fail::fail_point!(name, |arg: Option<String>| {
        if arg.as_deref() == Some("abort") {
            std::process::abort();
        }
        Err(Error::Injected(name.to_owned()))
    });
    Ok(())
}

/// Evaluates the failpoint `name` (feature `failpoints` is off: never fails).
#[cfg(not(feature = "failpoints"))]
pub(crate) fn hit(name: &str) -> Result<()> {
    let _ = name;
    Ok(())
}
