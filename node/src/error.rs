use thiserror::Error;

/// Why a node could not be built or run.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The configuration is refused (the message names the key).
    #[error("{0}")]
    Config(String),
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("opening the recording vault: {0}")]
    Vault(#[from] vidid_vault::VaultError),
    #[error("opening the case store: {0}")]
    Cases(#[from] vidid_cases::CasesError),
    #[error("starting the media server: {0}")]
    Media(#[from] vidid_server::MediaError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("tls: {0}")]
    Tls(String),
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
