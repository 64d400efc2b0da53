//! Every network description under `examples/` loads: its layers fit MNIST
//! images, its `[train]` settings pass the checks `myelin train` applies, and
//! its `[pretrain]` table (if any) names a method.

#![forbid(unsafe_code)]

use std::path::Path;

use myelin::host::net::recipe_from_toml;
use myelin::host::pretrain::network::from_toml;

#[test]
fn every_example_description_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut loaded = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let recipe = recipe_from_toml(&path, [1, 28, 28])
            .unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
        assert!(!recipe.layers.is_empty(), "{}", path.display());
        let text = std::fs::read_to_string(&path).unwrap();
        let pretrain = from_toml(&text).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
        let name = path.file_name().unwrap().to_string_lossy();
        if name.starts_with("deep-sigmoid-") {
            // The measured recipes of docs/pretraining.md.
            assert!(pretrain.is_some(), "{name}: no [pretrain]");
            assert_eq!(recipe.hyper.epochs, 40, "{name}");
            assert_eq!(recipe.hyper.augment_shift, 1, "{name}");
        }
        loaded += 1;
    }
    assert!(
        loaded >= 3,
        "only {loaded} descriptions under {}",
        dir.display()
    );
}
