use thiserror::Error;

/// What the adapter itself refuses or fails at (the control plane's refusals are
/// [`vidid_control::ControlError`]), with the stable code clients see.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SignalingError {
    /// The request carries no API key, or the wrong one.
    #[error("missing or wrong api key")]
    Unauthorized,
    /// The adapter's metrics could not be registered.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

impl SignalingError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            SignalingError::Unauthorized => "unauthorized",
            SignalingError::Metrics(_) => "internal",
        }
    }
}
