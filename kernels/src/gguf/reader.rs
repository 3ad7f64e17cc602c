//! GGUF reader over a memory map or a huge-page copy of the file. Parsing validates everything up
//! front; afterwards tensor data is handed out as slices known to lie inside the file.

use std::collections::HashMap;
use std::path::Path;

use super::cursor::Cursor;
use super::error::GgufError;
use super::ggml_type::GgmlType;
use super::meta_array::{scalar_size, MetaArray};
use super::value::MetaValue;
use super::{DEFAULT_ALIGNMENT, MAGIC, MAX_DIMS};

/// Arrays inside arrays deeper than this are rejected (real files use one level).
const MAX_ARRAY_DEPTH: usize = 3;
/// Smallest encoding of one metadata key/value: 8-byte key length, 4-byte type, 1-byte value.
const MIN_KV_BYTES: u64 = 13;
/// Most memory the parsed metadata may hold. Real files carry a tokenizer of a few MB (Llama 3's
/// 128k tokens and 280k merges are ~15 MB parsed); a file asking for more is refused before it is
/// allocated rather than turned into gigabytes of values.
pub const MAX_METADATA_BYTES: u64 = 256 << 20;
/// Smallest encoding of one tensor info: name length, n_dims, one dim, type, offset.
const MIN_TENSOR_INFO_BYTES: u64 = 8 + 4 + 8 + 4 + 8;

/// A page: the huge-page copy puts the file's first byte on such a boundary.
const PAGE_BYTES: usize = 4096;

/// The whole file in anonymous memory advised for huge pages, starting on a page boundary, or
/// `None` when that memory cannot be reserved (the caller maps the file instead). Returns the
/// buffer and where in it the file starts.
///
/// Why the boundary: a large heap block starts 16 bytes past a page (glibc's header of an
/// mmapped chunk), so a plain copy put every tensor 16 bytes off the alignment the file gives it
/// (a mapping keeps it): a file's 64-byte-aligned I2_S rows became 64-byte loads straddling two
/// cache lines in the default placement only. No speed difference on the Emerald Rapids VM
/// (the I2_S GEMV at 0/16/32/48 bytes past a line: 0.98–1.01×); the Zen 5 VM measured 1–2 %
/// for misaligned weights in a streaming probe.
fn read_into_huge_pages(
    file: &std::fs::File,
    len: u64,
) -> std::io::Result<Option<(Vec<u8>, usize)>> {
    use std::io::Read;
    let Some(n) = usize::try_from(len)
        .ok()
        .and_then(|n| n.checked_add(PAGE_BYTES))
    else {
        return Ok(None);
    };
    let mut bytes: Vec<u8> = Vec::new();
    if bytes.try_reserve_exact(n).is_err() {
        return Ok(None);
    }
    let start = bytes.as_ptr().align_offset(PAGE_BYTES).min(PAGE_BYTES);
    // Zeroes only the head of the block's first page: what follows stays untouched for the advice.
    bytes.resize(start, 0);
    // Advised while untouched, so the first writes (the read below) fault in 2 MiB pages.
    crate::cpu::huge_pages::advise_huge_pages(bytes.spare_capacity_mut());
    file.take(len).read_to_end(&mut bytes)?;
    let read = bytes.len() - start;
    if read as u64 != len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("read {read} of {len} bytes (the file shrank while it was read)"),
        ));
    }
    Ok(Some((bytes, start)))
}

/// Where a tensor's bytes are and what they hold.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    /// Tensor name.
    pub name: String,
    /// Dimensions in ggml order: `dims[0]` is the innermost (column) count.
    pub dims: Vec<u64>,
    /// Element type.
    pub ggml_type: GgmlType,
    /// Absolute byte offset of the data in the file.
    pub offset: u64,
    /// Size of the data in bytes.
    pub size: u64,
}

impl TensorInfo {
    /// Number of elements.
    pub fn elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

enum Storage {
    Mapped(memmap2::Mmap),
    /// In memory, the file's first byte at `buf[start]`.
    Owned {
        buf: Vec<u8>,
        start: usize,
    },
}

/// Where an opened file's bytes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Placement {
    /// Memory-mapped from the page cache: no copy, and pages as large as the page cache's folios
    /// happen to be (on Linux 6.x anything from 4 KiB to 2 MiB, depending on how the file was
    /// read in, which made decode speed vary between processes).
    Mapped,
    /// Read once into anonymous memory advised for 2 MiB transparent huge pages: the same fast
    /// pages in every process ([`crate::cpu::huge_pages`]). Falls back to `Mapped` when the
    /// memory cannot be reserved.
    HugePages,
}

impl Placement {
    /// Name in reports and flags.
    pub fn name(self) -> &'static str {
        match self {
            Placement::Mapped => "mapped",
            Placement::HugePages => "huge-pages",
        }
    }
}

impl std::str::FromStr for Placement {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [Placement::Mapped, Placement::HugePages]
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("unknown weight placement `{s}` (known: mapped, huge-pages)"))
    }
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mapped(m) => m,
            Storage::Owned { buf, start } => &buf[*start..],
        }
    }

    fn bytes_mut(&mut self) -> Option<&mut [u8]> {
        match self {
            Storage::Mapped(_) => None,
            Storage::Owned { buf, start } => Some(&mut buf[*start..]),
        }
    }
}

/// A parsed, validated GGUF file.
pub struct GgufFile {
    storage: Storage,
    placement: Placement,
    version: u32,
    metadata: Vec<(String, MetaValue)>,
    keys: HashMap<String, usize>,
    tensors: Vec<TensorInfo>,
    names: HashMap<String, usize>,
    alignment: u64,
    data_offset: u64,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("version", &self.version)
            .field("metadata", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .field("bytes", &self.storage.bytes().len())
            .finish()
    }
}

impl GgufFile {
    /// Maps and validates the file at `path`.
    ///
    /// The file must not be modified while it is open (as with any memory-mapped model file).
    pub fn open(path: &Path) -> Result<Self, GgufError> {
        Self::open_with(path, Placement::Mapped)
    }

    /// Opens and validates the file at `path`, its bytes placed as `placement` asks.
    pub fn open_with(path: &Path, placement: Placement) -> Result<Self, GgufError> {
        let io = |source| GgufError::Io {
            path: path.display().to_string(),
            source,
        };
        // Checked before opening: open(2) on a FIFO blocks until a writer appears.
        let kind = std::fs::metadata(path).map_err(io)?.file_type();
        if !kind.is_file() {
            return Err(GgufError::NotRegularFile {
                path: path.display().to_string(),
            });
        }
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len == 0 {
            return Self::parse(Storage::Owned {
                buf: Vec::new(),
                start: 0,
            });
        }
        if placement == Placement::HugePages {
            if let Some((buf, start)) = read_into_huge_pages(&file, len).map_err(io)? {
                let mut parsed = Self::parse(Storage::Owned { buf, start })?;
                parsed.placement = Placement::HugePages;
                return Ok(parsed);
            }
        }
        // SAFETY: FFI to mmap(2) on a file opened read-only. Rust's aliasing rules assume the
        // bytes do not change underneath us; model files are not modified while perfd reads them
        // (documented above), and every access is bounds-checked against the mapped length.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        Self::parse(Storage::Mapped(map))
    }

    /// The bytes, writable where they are a private copy (huge pages, or read from memory); a
    /// mapping of the file is read-only. The model reorders ternary tensors in place through it.
    pub(crate) fn bytes_mut(&mut self) -> Option<&mut [u8]> {
        self.storage.bytes_mut()
    }

    /// Where this file's bytes live.
    pub fn placement(&self) -> Placement {
        self.placement
    }

    /// Bytes of the file the kernel backs with 2 MiB pages now (Linux; `None` elsewhere).
    pub fn huge_page_bytes(&self) -> Option<u64> {
        crate::cpu::huge_pages::huge_page_bytes(self.storage.bytes())
    }

    /// Validates a GGUF image held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, GgufError> {
        Self::parse(Storage::Owned {
            buf: bytes,
            start: 0,
        })
    }

    fn parse(storage: Storage) -> Result<Self, GgufError> {
        let buf = storage.bytes();
        let file_len = buf.len() as u64;
        let mut c = Cursor::new(buf);
        let magic = c.u32("magic")?;
        if magic != MAGIC {
            return Err(GgufError::BadMagic(magic));
        }
        let version = c.u32("version")?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::UnsupportedVersion(version));
        }
        let n_tensors = c.u64("tensor count")?;
        let n_kv = c.u64("metadata count")?;
        if n_kv > c.remaining() / MIN_KV_BYTES {
            return Err(GgufError::AbsurdCount {
                what: "metadata",
                count: n_kv,
                file_len,
            });
        }
        if n_tensors > c.remaining() / MIN_TENSOR_INFO_BYTES {
            return Err(GgufError::AbsurdCount {
                what: "tensor",
                count: n_tensors,
                file_len,
            });
        }
        let mut metadata = Vec::with_capacity(n_kv as usize);
        let mut keys = HashMap::with_capacity(n_kv as usize);
        let mut budget = MetaBudget {
            left: MAX_METADATA_BYTES,
            file_len,
        };
        for i in 0..n_kv {
            let key = c.string(&format!("metadata key #{i}"))?;
            budget.spend(&key, key.len() as u64 + 64)?;
            let type_id = c.u32(&format!("value type of `{key}`"))?;
            let value = read_value(&mut c, &key, type_id, 0, &mut budget)?;
            if keys.insert(key.clone(), metadata.len()).is_some() {
                return Err(GgufError::DuplicateKey(key));
            }
            metadata.push((key, value));
        }
        let alignment = match keys.get("general.alignment").map(|&i| &metadata[i].1) {
            None => DEFAULT_ALIGNMENT,
            Some(v) => {
                let a = v.as_u64().ok_or_else(|| GgufError::WrongValueType {
                    key: "general.alignment".into(),
                    expected: "unsigned integer",
                    found: v.type_name().into(),
                })?;
                if a == 0 || !a.is_power_of_two() {
                    return Err(GgufError::BadAlignment(a));
                }
                a
            }
        };
        let mut raw = Vec::with_capacity(n_tensors as usize);
        for i in 0..n_tensors {
            let name = c.string(&format!("name of tensor #{i}"))?;
            let n_dims = c.u32(&format!("dimension count of `{name}`"))? as usize;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(GgufError::BadShape {
                    tensor: name,
                    reason: format!("{n_dims} dimensions (1..={MAX_DIMS} allowed)"),
                });
            }
            let mut dims = Vec::with_capacity(n_dims);
            for d in 0..n_dims {
                dims.push(c.u64(&format!("dimension {d} of `{name}`"))?);
            }
            let type_id = c.u32(&format!("type of `{name}`"))?;
            let offset = c.u64(&format!("offset of `{name}`"))?;
            raw.push((name, dims, type_id, offset));
        }
        let data_offset = (c.pos() as u64).div_ceil(alignment) * alignment;
        let mut tensors = Vec::with_capacity(raw.len());
        let mut names = HashMap::with_capacity(raw.len());
        for (name, dims, type_id, rel) in raw {
            let info = validate_tensor(name, dims, type_id, rel, alignment, data_offset, file_len)?;
            if names.insert(info.name.clone(), tensors.len()).is_some() {
                return Err(GgufError::DuplicateTensor(info.name));
            }
            tensors.push(info);
        }
        check_overlaps(&tensors)?;
        Ok(Self {
            storage,
            placement: Placement::Mapped,
            version,
            metadata,
            keys,
            tensors,
            names,
            alignment,
            data_offset,
        })
    }

    /// GGUF version of the file.
    pub fn version(&self) -> u32 {
        self.version
    }
    /// Alignment of tensor data.
    pub fn alignment(&self) -> u64 {
        self.alignment
    }
    /// Absolute offset of the data section.
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }
    /// Every metadata entry in file order.
    pub fn metadata(&self) -> &[(String, MetaValue)] {
        &self.metadata
    }
    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&MetaValue> {
        self.keys.get(key).map(|&i| &self.metadata[i].1)
    }
    /// A required unsigned integer value.
    pub fn get_u64(&self, key: &str) -> Result<u64, GgufError> {
        let v = self
            .get(key)
            .ok_or_else(|| GgufError::MissingKey(key.into()))?;
        v.as_u64().ok_or_else(|| GgufError::WrongValueType {
            key: key.into(),
            expected: "unsigned integer",
            found: format!("{} {v}", v.type_name()),
        })
    }
    /// A required float value.
    pub fn get_f64(&self, key: &str) -> Result<f64, GgufError> {
        let v = self
            .get(key)
            .ok_or_else(|| GgufError::MissingKey(key.into()))?;
        v.as_f64().ok_or_else(|| GgufError::WrongValueType {
            key: key.into(),
            expected: "float",
            found: format!("{} {v}", v.type_name()),
        })
    }
    /// A required string value.
    pub fn get_str(&self, key: &str) -> Result<&str, GgufError> {
        let v = self
            .get(key)
            .ok_or_else(|| GgufError::MissingKey(key.into()))?;
        v.as_str().ok_or_else(|| GgufError::WrongValueType {
            key: key.into(),
            expected: "string",
            found: v.type_name().into(),
        })
    }
    /// Every tensor in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }
    /// The tensor called `name`.
    pub fn tensor(&self, name: &str) -> Result<&TensorInfo, GgufError> {
        self.names
            .get(name)
            .map(|&i| &self.tensors[i])
            .ok_or_else(|| GgufError::MissingTensor(name.into()))
    }
    /// The bytes of a tensor of this file (validated at parse time to lie inside it).
    pub fn data(&self, info: &TensorInfo) -> &[u8] {
        &self.storage.bytes()[info.offset as usize..(info.offset + info.size) as usize]
    }
    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        self.storage.bytes()
    }
}

fn validate_tensor(
    name: String,
    dims: Vec<u64>,
    type_id: u32,
    rel: u64,
    alignment: u64,
    data_offset: u64,
    file_len: u64,
) -> Result<TensorInfo, GgufError> {
    let ggml_type = GgmlType::from_id(type_id).ok_or_else(|| GgufError::UnknownTensorType {
        tensor: name.clone(),
        type_id,
    })?;
    if let Some(d) = dims.iter().position(|&d| d == 0) {
        return Err(GgufError::BadShape {
            tensor: name,
            reason: format!("dimension {d} is zero"),
        });
    }
    let n = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| GgufError::BadShape {
            tensor: name.clone(),
            reason: format!("element count of {dims:?} overflows"),
        })?;
    let size = ggml_type
        .tensor_bytes(n)
        .map_err(|reason| GgufError::BadShape {
            tensor: name.clone(),
            reason,
        })?;
    if !rel.is_multiple_of(alignment) {
        return Err(GgufError::BadTensorData {
            tensor: name,
            reason: format!("offset {rel} is not aligned to {alignment}"),
        });
    }
    let end = data_offset
        .checked_add(rel)
        .and_then(|start| start.checked_add(size))
        .filter(|&end| end <= file_len)
        .ok_or_else(|| GgufError::BadTensorData {
            tensor: name.clone(),
            reason: format!(
                "{size} bytes at data offset {rel} end past the file ({file_len} bytes, data section at {data_offset})"
            ),
        })?;
    Ok(TensorInfo {
        name,
        dims,
        ggml_type,
        offset: end - size,
        size,
    })
}

fn check_overlaps(tensors: &[TensorInfo]) -> Result<(), GgufError> {
    let mut spans: Vec<&TensorInfo> = tensors.iter().collect();
    spans.sort_by_key(|t| t.offset);
    for pair in spans.windows(2) {
        if pair[0].offset + pair[0].size > pair[1].offset {
            return Err(GgufError::BadTensorData {
                tensor: pair[1].name.clone(),
                reason: format!("data overlaps tensor `{}`", pair[0].name),
            });
        }
    }
    Ok(())
}

/// What the metadata parsed so far may still allocate.
struct MetaBudget {
    left: u64,
    file_len: u64,
}

impl MetaBudget {
    fn spend(&mut self, key: &str, bytes: u64) -> Result<(), GgufError> {
        self.left = self
            .left
            .checked_sub(bytes)
            .ok_or_else(|| GgufError::MetadataTooLarge {
                key: key.into(),
                max: MAX_METADATA_BYTES,
            })?;
        Ok(())
    }
}

fn read_value(
    c: &mut Cursor<'_>,
    key: &str,
    type_id: u32,
    depth: usize,
    budget: &mut MetaBudget,
) -> Result<MetaValue, GgufError> {
    if let Some(size) = scalar_size(type_id) {
        let bytes = c.take(size as u64, || {
            format!("{} value of `{key}`", type_name(type_id))
        })?;
        return MetaValue::scalar_from_le(type_id, bytes).ok_or(GgufError::BadValueType {
            key: key.into(),
            type_id,
        });
    }
    match type_id {
        8 => {
            let s = c.string_of(key)?;
            budget.spend(
                key,
                s.len() as u64 + std::mem::size_of::<MetaValue>() as u64,
            )?;
            Ok(MetaValue::String(s))
        }
        9 => {
            if depth >= MAX_ARRAY_DEPTH {
                return Err(GgufError::TooDeep {
                    key: key.into(),
                    max: MAX_ARRAY_DEPTH,
                });
            }
            let elem = c.u32(&format!("array element type of `{key}`"))?;
            let count = c.u64(&format!("array length of `{key}`"))?;
            // Every element takes at least one byte, so a count beyond the remaining bytes is a lie.
            if count > c.remaining() {
                return Err(GgufError::AbsurdCount {
                    what: "array element",
                    count,
                    file_len: budget.file_len,
                });
            }
            if let Some(size) = scalar_size(elem) {
                // Fixed-size elements: one bounds check and one copy, at the file's own size.
                let n = count
                    .checked_mul(size as u64)
                    .ok_or(GgufError::AbsurdCount {
                        what: "array element",
                        count,
                        file_len: budget.file_len,
                    })?;
                budget.spend(key, n)?;
                let bytes = c.take(n, || format!("{count} array elements of `{key}`"))?;
                let array = MetaArray::from_scalar_bytes(elem, bytes.to_vec()).ok_or(
                    GgufError::BadValueType {
                        key: key.into(),
                        type_id: elem,
                    },
                )?;
                return Ok(MetaValue::Array(array));
            }
            if elem != 8 && elem != 9 {
                return Err(GgufError::BadValueType {
                    key: key.into(),
                    type_id: elem,
                });
            }
            let mut items = Vec::with_capacity(count.min(1 << 16) as usize);
            for _ in 0..count {
                items.push(read_value(c, key, elem, depth + 1, budget)?);
            }
            let array =
                MetaArray::from_values(elem, items).map_err(|_| GgufError::BadValueType {
                    key: key.into(),
                    type_id: elem,
                })?;
            Ok(MetaValue::Array(array))
        }
        _ => Err(GgufError::BadValueType {
            key: key.into(),
            type_id,
        }),
    }
}

/// Name of a scalar type id, for messages.
fn type_name(type_id: u32) -> &'static str {
    match type_id {
        0 => "u8",
        1 => "i8",
        2 => "u16",
        3 => "i16",
        4 => "u32",
        5 => "i32",
        6 => "f32",
        7 => "bool",
        10 => "u64",
        11 => "i64",
        12 => "f64",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::synthetic_model::write_preset;
    use crate::model::Preset;

    /// Both placements hold the file's bytes, and every tensor sits where the file aligns it
    /// (address ≡ file offset mod 4096): a huge-page copy does not shift it by the heap block's
    /// header.
    #[test]
    fn both_placements_keep_the_file_alignment_of_every_tensor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        write_preset(&path, Preset::Tiny, 3).unwrap();
        let on_disk = std::fs::read(&path).unwrap();
        for placement in [Placement::Mapped, Placement::HugePages] {
            let f = GgufFile::open_with(&path, placement).unwrap();
            assert_eq!(f.bytes(), &on_disk[..], "{}", placement.name());
            assert_eq!(f.bytes().as_ptr() as usize % PAGE_BYTES, 0);
            for t in f.tensors() {
                let at = f.data(t).as_ptr() as usize;
                assert_eq!(
                    at % PAGE_BYTES,
                    t.offset as usize % PAGE_BYTES,
                    "{} in the {} placement",
                    t.name,
                    placement.name()
                );
            }
        }
    }
}
