/// Store errors, classed by what the caller must do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot serve now (disk full, database down, locked): retry later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A bug or corrupt data: retrying will not help.
    #[error("store internal error: {0}")]
    Internal(String),
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}
