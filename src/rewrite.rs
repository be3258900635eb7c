//! `rewrite-target` and `x-forwarded-prefix`.

#[derive(Debug)]
pub struct Rewrite {
    target: String,
}

pub struct Applied {
    pub path: String,
    pub forwarded_prefix: Option<String>,
}

impl Rewrite {
    pub fn target_text(&self) -> &str {
        &self.target
    }

    #[allow(clippy::result_unit_err)]
    pub fn apply(&self, _path: &str) -> Result<Option<Applied>, ()> {
        Ok(None)
    }
}
