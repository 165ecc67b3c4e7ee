//! What of `vsched` other crates reach: the host file as a TOML document
//! ([`hostdoc`]), which the fuzz target `host_edit` drives without files,
//! and the error every command ends with.
#![forbid(unsafe_code)]

pub mod hostdoc;

/// How a command failed, which decides the exit code.
#[derive(Debug)]
pub enum Failure {
    /// The user's input is wrong: exit 2, one line.
    BadInput(String),
    /// Something broke inside: exit 1.
    Internal(String),
}
