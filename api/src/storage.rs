//! Stored files (posters) on the local disk under the data directory, served by the service
//! itself at `/files/…`.

use std::path::PathBuf;

/// Files kept in a local directory and the public URL they are served under.
#[derive(Debug, Clone)]
pub struct LocalFiles {
    pub dir: PathBuf,
    base_url: String,
}

impl LocalFiles {
    pub fn new(dir: PathBuf, public_base_url: &str) -> Self {
        Self {
            dir,
            base_url: format!("{}/files", public_base_url.trim_end_matches('/')),
        }
    }

    /// The URL a browser fetches the object at `key` from.
    pub fn public_url(&self, key: &str) -> String {
        format!("{}/{}", self.base_url, key.trim_start_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_join_without_double_slashes() {
        let files = LocalFiles::new(PathBuf::from("data/files"), "http://localhost:8080/");
        assert_eq!(
            files.public_url("posters/a.jpg"),
            "http://localhost:8080/files/posters/a.jpg"
        );
    }
}
