//! Bytes one decoded token reads from a model file's tensors, from the file's own tensor table:
//! what a decode roofline divides the read bandwidth by when the engine is not ours (another
//! engine's own figure can count its types differently: bitnet.cpp's llama-bench prints 1.84 GB
//! as the `model_size` of the 1.18 GB 2B-4T I2_S file).

use super::reader::GgufFile;

/// The input embedding's tensor name in llama.cpp's and bitnet.cpp's files.
const TOKEN_EMBD: &str = "token_embd.weight";
/// The output matrix's tensor name; without it the embedding is tied (it is the output matrix).
const OUTPUT: &str = "output.weight";

/// Every tensor in full except the token embedding, of which one row (the token's); a tied
/// embedding is the output matrix and is read in full on top of that row, as perfd's own forward
/// pass counts it. `None` without a token embedding of at least one row.
pub fn decode_read_bytes(file: &GgufFile) -> Option<u64> {
    let embd = file.tensors().iter().find(|t| t.name == TOKEN_EMBD)?;
    let rows = embd.dims.get(1).copied().unwrap_or(1);
    if rows == 0 {
        return None;
    }
    let tied = !file.tensors().iter().any(|t| t.name == OUTPUT);
    let others: u64 = file
        .tensors()
        .iter()
        .filter(|t| t.name != TOKEN_EMBD)
        .map(|t| t.size)
        .sum();
    Some(others + embd.size / rows + if tied { embd.size } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::{write_gguf, GgmlType, MetaValue, TensorSpec};

    fn file_with(dir: &std::path::Path, tensors: &[(&str, Vec<u64>)]) -> GgufFile {
        let specs: Vec<TensorSpec> = tensors
            .iter()
            .map(|(name, dims)| TensorSpec {
                name: (*name).to_string(),
                dims: dims.clone(),
                ggml_type: GgmlType::F32,
            })
            .collect();
        let path = dir.join(format!("{}.gguf", tensors.len()));
        let meta = [(
            "general.architecture".to_string(),
            MetaValue::String("x".into()),
        )];
        write_gguf(&path, &meta, &specs, |_, spec, out| {
            out.write_all(&vec![0u8; spec.size().unwrap() as usize])
        })
        .unwrap();
        GgufFile::open(&path).unwrap()
    }

    #[test]
    fn a_tied_embedding_is_read_in_full_and_an_untied_one_by_a_row() {
        let dir = tempfile::tempdir().unwrap();
        let tied = file_with(
            dir.path(),
            &[("token_embd.weight", vec![8, 100]), ("blk.0.w", vec![8, 8])],
        );
        assert_eq!(decode_read_bytes(&tied), Some(4 * (64 + 8 + 800)));
        let untied = file_with(
            dir.path(),
            &[
                ("token_embd.weight", vec![8, 100]),
                ("blk.0.w", vec![8, 8]),
                ("output.weight", vec![8, 100]),
            ],
        );
        assert_eq!(decode_read_bytes(&untied), Some(4 * (64 + 800 + 8)));
        let none = file_with(dir.path(), &[("blk.0.w", vec![8, 8])]);
        assert_eq!(decode_read_bytes(&none), None);
    }
}
