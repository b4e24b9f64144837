//! What names mean: the module's imports and their aliases.

use ruff_python_ast::ModModule;

/// Imports and aliases of one module.
#[derive(Debug, Default)]
pub struct Model {
    imports: Vec<String>,
}

impl Model {
    pub fn build(_module: &ModModule) -> Model {
        Model::default()
    }

    /// Top-level names of imported modules, sorted, unique.
    pub fn imported_modules(&self) -> Vec<String> {
        self.imports.clone()
    }
}
