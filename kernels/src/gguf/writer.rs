//! Streaming GGUF writer: the header is computed from the tensor specs, then each tensor's bytes
//! come from a callback and go straight to disk, so a file is never held in memory.
//!
//! The file is written under a temporary name and renamed into place only when complete, so an
//! interrupted write never leaves a truncated model where a reader would find it.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::error::GgufError;
use super::ggml_type::GgmlType;
use super::value::MetaValue;
use super::{DEFAULT_ALIGNMENT, MAGIC};

/// A tensor to write: name, ggml-order dimensions and type.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSpec {
    /// Tensor name.
    pub name: String,
    /// Dimensions, `dims[0]` innermost.
    pub dims: Vec<u64>,
    /// Element type.
    pub ggml_type: GgmlType,
}

impl TensorSpec {
    /// Bytes of data this tensor needs.
    pub fn size(&self) -> Result<u64, GgufError> {
        let n = self
            .dims
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .ok_or_else(|| GgufError::BadShape {
                tensor: self.name.clone(),
                reason: "element count overflows".into(),
            })?;
        self.ggml_type
            .tensor_bytes(n)
            .map_err(|reason| GgufError::BadShape {
                tensor: self.name.clone(),
                reason,
            })
    }
}

/// Counts bytes passing through, so each tensor callback's output size can be checked.
struct Counting<'a, W: Write> {
    inner: &'a mut W,
    written: u64,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn write_string(w: &mut impl Write, s: &str) -> io::Result<()> {
    w.write_all(&(s.len() as u64).to_le_bytes())?;
    w.write_all(s.as_bytes())
}

fn write_value(w: &mut impl Write, v: &MetaValue) -> io::Result<()> {
    match v {
        MetaValue::U8(x) => w.write_all(&[*x]),
        MetaValue::I8(x) => w.write_all(&x.to_le_bytes()),
        MetaValue::U16(x) => w.write_all(&x.to_le_bytes()),
        MetaValue::I16(x) => w.write_all(&x.to_le_bytes()),
        MetaValue::U32(x) => w.write_all(&x.to_le_bytes()),
        MetaValue::I32(x) => w.write_all(&x.to_le_bytes()),
        MetaValue::F32(x) => w.write_all(&x.to_le_bytes()),
        MetaValue::Bool(x) => w.write_all(&[u8::from(*x)]),
        MetaValue::String(s) => write_string(w, s),
        MetaValue::Array(a) => {
            w.write_all(&a.elem_type().to_le_bytes())?;
            w.write_all(&(a.len() as u64).to_le_bytes())?;
            match (a.scalar_bytes(), a.values()) {
                (Some(bytes), _) => w.write_all(bytes),
                (None, Some(values)) => values.iter().try_for_each(|i| write_value(w, i)),
                (None, None) => Ok(()),
            }
        }
        MetaValue::U64(x) => w.write_all(&x.to_le_bytes()),
        MetaValue::I64(x) => w.write_all(&x.to_le_bytes()),
        MetaValue::F64(x) => w.write_all(&x.to_le_bytes()),
    }
}

fn padding(pos: u64, alignment: u64) -> usize {
    (pos.div_ceil(alignment) * alignment - pos) as usize
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".partial");
    path.with_file_name(name)
}

/// Writes a GGUF v3 file; `fill(i, spec, out)` must write exactly tensor `i`'s bytes.
/// Returns the file size.
pub fn write_gguf(
    path: &Path,
    metadata: &[(String, MetaValue)],
    tensors: &[TensorSpec],
    mut fill: impl FnMut(usize, &TensorSpec, &mut dyn Write) -> io::Result<()>,
) -> Result<u64, GgufError> {
    let alignment = metadata
        .iter()
        .find(|(k, _)| k == "general.alignment")
        .and_then(|(_, v)| v.as_u64())
        .unwrap_or(DEFAULT_ALIGNMENT);
    if alignment == 0 || !alignment.is_power_of_two() {
        return Err(GgufError::BadAlignment(alignment));
    }
    let sizes = tensors
        .iter()
        .map(TensorSpec::size)
        .collect::<Result<Vec<_>, _>>()?;
    let tmp = partial_path(path);
    let io_err = |p: &Path| {
        let p = p.display().to_string();
        move |source| GgufError::Io {
            path: p.clone(),
            source,
        }
    };
    let file = File::create(&tmp).map_err(io_err(&tmp))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let result = (|| -> Result<u64, GgufError> {
        let e = io_err(&tmp);
        let mut header = Vec::new();
        header.extend_from_slice(&MAGIC.to_le_bytes());
        header.extend_from_slice(&3u32.to_le_bytes());
        header.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
        header.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
        for (k, v) in metadata {
            write_string(&mut header, k).map_err(&e)?;
            header.extend_from_slice(&v.type_id().to_le_bytes());
            write_value(&mut header, v).map_err(&e)?;
        }
        let mut rel = 0u64;
        for (t, &size) in tensors.iter().zip(&sizes) {
            write_string(&mut header, &t.name).map_err(&e)?;
            header.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                header.extend_from_slice(&d.to_le_bytes());
            }
            header.extend_from_slice(&t.ggml_type.id().to_le_bytes());
            header.extend_from_slice(&rel.to_le_bytes());
            rel += size;
            rel += padding(rel, alignment) as u64;
        }
        let pad = padding(header.len() as u64, alignment);
        header.resize(header.len() + pad, 0);
        w.write_all(&header).map_err(&e)?;
        let mut pos = header.len() as u64;
        for (i, (t, &size)) in tensors.iter().zip(&sizes).enumerate() {
            let mut counting = Counting {
                inner: &mut w,
                written: 0,
            };
            fill(i, t, &mut counting).map_err(&e)?;
            if counting.written != size {
                return Err(GgufError::WrongDataSize {
                    tensor: t.name.clone(),
                    expected: size,
                    actual: counting.written,
                });
            }
            pos += size;
            let pad = padding(pos, alignment);
            w.write_all(&vec![0u8; pad]).map_err(&e)?;
            pos += pad as u64;
        }
        let file = w.into_inner().map_err(|err| e(err.into_error()))?;
        file.sync_all().map_err(&e)?;
        Ok(pos)
    })();
    match result {
        Ok(len) => {
            std::fs::rename(&tmp, path).map_err(io_err(path))?;
            Ok(len)
        }
        Err(err) => {
            // The partial file is useless; a failed cleanup is secondary to the real error.
            let _ = std::fs::remove_file(&tmp);
            Err(err)
        }
    }
}
