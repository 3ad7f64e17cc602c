//! Errors of GGUF reading and writing; each names the offset, key or tensor at fault.

use thiserror::Error;

/// What is wrong with a GGUF file, or why one could not be written.
#[derive(Debug, Error)]
pub enum GgufError {
    /// The file could not be opened, mapped or written.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The first four bytes are not `GGUF`.
    #[error("not a GGUF file: magic is {0:#010x}, expected 0x46554747 (\"GGUF\")")]
    BadMagic(u32),
    /// A GGUF version this reader does not handle.
    #[error("unsupported GGUF version {0} (supported: 2, 3)")]
    UnsupportedVersion(u32),
    /// The file ends before a structure it announces.
    #[error("truncated file: {what} at byte {offset} needs {need} bytes, {have} remain")]
    Truncated {
        what: String,
        offset: u64,
        need: u64,
        have: u64,
    },
    /// A count that cannot fit in the file.
    #[error("absurd {what} count {count}: the file ({file_len} bytes) cannot hold that many")]
    AbsurdCount {
        what: &'static str,
        count: u64,
        file_len: u64,
    },
    /// A FIFO, device, directory or socket where a model file was expected.
    #[error("{path} is not a regular file")]
    NotRegularFile { path: String },
    /// The metadata would need more memory than any real file's.
    #[error("metadata value `{key}` takes the metadata past {max} bytes; no real model file needs that much")]
    MetadataTooLarge { key: String, max: u64 },
    /// A string that is not UTF-8.
    #[error("{what} at byte {offset} is not valid UTF-8")]
    BadUtf8 { what: String, offset: u64 },
    /// A metadata value type id outside the GGUF specification.
    #[error("metadata `{key}`: unknown value type {type_id}")]
    BadValueType { key: String, type_id: u32 },
    /// Arrays nested deeper than any real file uses.
    #[error("metadata `{key}`: arrays nested deeper than {max}")]
    TooDeep { key: String, max: usize },
    /// A metadata key appears twice.
    #[error("metadata key `{0}` appears twice")]
    DuplicateKey(String),
    /// `general.alignment` is zero or not a power of two.
    #[error("general.alignment = {0} is not a non-zero power of two")]
    BadAlignment(u64),
    /// A tensor's ggml type id is not one this reader understands.
    #[error("tensor `{tensor}`: unsupported ggml type id {type_id}")]
    UnknownTensorType { tensor: String, type_id: u32 },
    /// A tensor's dimensions are invalid.
    #[error("tensor `{tensor}`: {reason}")]
    BadShape { tensor: String, reason: String },
    /// A tensor's data lies (partly) outside the file, is misaligned, or overlaps another.
    #[error("tensor `{tensor}`: {reason}")]
    BadTensorData { tensor: String, reason: String },
    /// Two tensors share a name.
    #[error("tensor `{0}` appears twice")]
    DuplicateTensor(String),
    /// A required tensor is absent.
    #[error("missing tensor `{0}`")]
    MissingTensor(String),
    /// A required metadata key is absent.
    #[error("missing metadata key `{0}`")]
    MissingKey(String),
    /// A metadata key has another type than required.
    #[error("metadata `{key}`: expected {expected}, found {found}")]
    WrongValueType {
        key: String,
        expected: &'static str,
        found: String,
    },
    /// A writer callback produced another number of bytes than the tensor needs.
    #[error("tensor `{tensor}`: writer produced {actual} bytes, the tensor needs {expected}")]
    WrongDataSize {
        tensor: String,
        expected: u64,
        actual: u64,
    },
}
