//! GGUF v3 container: a validating, memory-mapped reader and a streaming writer.
//!
//! Every count, length, offset, type id and shape read from a file is checked against the file's
//! size before it is used, so a truncated, corrupt or hostile file is an error naming what is wrong,
//! never a panic, a huge allocation or an out-of-bounds read.

mod cursor;
pub mod decode_bytes;
pub mod error;
pub mod ggml_type;
pub mod meta_array;
pub mod reader;
pub mod value;
pub mod writer;

pub use error::GgufError;
pub use ggml_type::GgmlType;
pub use meta_array::MetaArray;
pub use reader::{GgufFile, Placement, TensorInfo};
pub use value::MetaValue;
pub use writer::{write_gguf, TensorSpec};

/// File magic, `GGUF` in little-endian byte order.
pub const MAGIC: u32 = 0x4655_4747;
/// Alignment of tensor data when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// Most dimensions a ggml tensor has.
pub const MAX_DIMS: usize = 4;
