//! What an engine error means to a caller: the one mapping from [`EngineError`] to [`DasError`].

use crate::engine::EngineError;
use crate::error::DasError;

impl From<EngineError> for DasError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::LoginRefused => DasError::LoginRefused,
            EngineError::Unreachable(_) | EngineError::TooManyConnections => DasError::Unreachable,
            EngineError::Tls(failure) => DasError::TargetTls(failure),
            EngineError::StatementTimeout | EngineError::Interrupted => DasError::StatementTimeout,
            EngineError::Denied(_) => DasError::PrivilegeDenied,
            EngineError::Server(detail) => DasError::Internal(detail),
            EngineError::NoSuchSession => DasError::Internal("no such session".into()),
        }
    }
}
