use thiserror::Error;

/// Why a node could not be built or run.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The configuration is refused (the message names the key).
    #[error("{0}")]
    Config(String),
    /// A file, directory or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done (`creating the data directory`, `the http listener`, …).
        what: &'static str,
        /// Why the operating system refused.
        #[source]
        source: std::io::Error,
    },
    /// The recording vault could not be opened.
    #[error("opening the recording vault: {0}")]
    Vault(#[from] vidid_vault::VaultError),
    /// The case store could not be opened.
    #[error("opening the case store: {0}")]
    Cases(#[from] vidid_cases::CasesError),
    /// The media server could not start (e.g. its UDP socket could not be bound).
    #[error("starting the media server: {0}")]
    Media(#[from] vidid_server::MediaError),
    /// The metrics could not be registered.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The TLS certificate or key could not be read.
    #[error("tls: {0}")]
    Tls(String),
    /// The HTTP server failed.
    #[error("http server: {0}")]
    Http(String),
    /// A start-up task died (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

impl NodeError {
    pub(crate) fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> NodeError {
        move |source| NodeError::Io { what, source }
    }
}
