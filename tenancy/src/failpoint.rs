//! Named failpoints inside adapters (crate feature `failpoints`), for crash tests of the gaps a
//! port call hides: `kms:after:create_key` (between KMS CreateKey and CreateAlias).
//!
//! Actions, as in the provisioner's failpoints: `return(abort)` aborts the process on the spot
//! (a real crash, no destructors, no cleanup); any other `return` fails the call with
//! `Unavailable`, as a connection lost at that moment would. Without the feature every call
//! compiles to `Ok(())`.

use crate::error::Result;

/// Evaluates the failpoint `name`.
#[cfg(feature = "failpoints")]
pub(crate) fn hit(name: &str) -> Result<()> {
    fail::fail_point!(name, |arg: Option<String>| {
        if arg.as_deref() == Some("abort") {
            std::process::abort();
        }
        Err(crate::error::Error::unavailable(format!(
            "failure injected at {name}"
        )))
    });
    Ok(())
}

/// Evaluates the failpoint `name` (feature `failpoints` is off: never fails).
#[cfg(not(feature = "failpoints"))]
pub(crate) fn hit(name: &str) -> Result<()> {
    let _ = name;
    Ok(())
}
