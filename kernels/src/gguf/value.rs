//! GGUF metadata values.

use std::fmt;

use super::meta_array::MetaArray;

/// One metadata value (GGUF value types 0–12).
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    /// Type 0.
    U8(u8),
    /// Type 1.
    I8(i8),
    /// Type 2.
    U16(u16),
    /// Type 3.
    I16(i16),
    /// Type 4.
    U32(u32),
    /// Type 5.
    I32(i32),
    /// Type 6.
    F32(f32),
    /// Type 7.
    Bool(bool),
    /// Type 8.
    String(String),
    /// Type 9: an array (stored compactly, see [`MetaArray`]).
    Array(MetaArray),
    /// Type 10.
    U64(u64),
    /// Type 11.
    I64(i64),
    /// Type 12.
    F64(f64),
}

impl MetaValue {
    /// The GGUF value type id.
    pub fn type_id(&self) -> u32 {
        match self {
            Self::U8(_) => 0,
            Self::I8(_) => 1,
            Self::U16(_) => 2,
            Self::I16(_) => 3,
            Self::U32(_) => 4,
            Self::I32(_) => 5,
            Self::F32(_) => 6,
            Self::Bool(_) => 7,
            Self::String(_) => 8,
            Self::Array(..) => 9,
            Self::U64(_) => 10,
            Self::I64(_) => 11,
            Self::F64(_) => 12,
        }
    }

    /// The value as an unsigned integer, from any integer type that holds a non-negative value.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Self::U8(v) => Some(v.into()),
            Self::U16(v) => Some(v.into()),
            Self::U32(v) => Some(v.into()),
            Self::U64(v) => Some(v),
            Self::I8(v) => u64::try_from(v).ok(),
            Self::I16(v) => u64::try_from(v).ok(),
            Self::I32(v) => u64::try_from(v).ok(),
            Self::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a float, from either float type.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Self::F32(v) => Some(v.into()),
            Self::F64(v) => Some(v),
            _ => None,
        }
    }

    /// The value as a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// Decodes a fixed-size scalar of type `type_id` from exactly its little-endian bytes.
    pub fn scalar_from_le(type_id: u32, b: &[u8]) -> Option<Self> {
        Some(match type_id {
            0 => Self::U8(*b.first()?),
            1 => Self::I8(i8::from_le_bytes(b.try_into().ok()?)),
            2 => Self::U16(u16::from_le_bytes(b.try_into().ok()?)),
            3 => Self::I16(i16::from_le_bytes(b.try_into().ok()?)),
            4 => Self::U32(u32::from_le_bytes(b.try_into().ok()?)),
            5 => Self::I32(i32::from_le_bytes(b.try_into().ok()?)),
            6 => Self::F32(f32::from_le_bytes(b.try_into().ok()?)),
            7 => Self::Bool(*b.first()? != 0),
            10 => Self::U64(u64::from_le_bytes(b.try_into().ok()?)),
            11 => Self::I64(i64::from_le_bytes(b.try_into().ok()?)),
            12 => Self::F64(f64::from_le_bytes(b.try_into().ok()?)),
            _ => return None,
        })
    }

    /// Appends a fixed-size scalar's little-endian bytes (strings and arrays append nothing).
    pub fn write_scalar_le(&self, out: &mut Vec<u8>) {
        match *self {
            Self::U8(v) => out.push(v),
            Self::I8(v) => out.extend(v.to_le_bytes()),
            Self::U16(v) => out.extend(v.to_le_bytes()),
            Self::I16(v) => out.extend(v.to_le_bytes()),
            Self::U32(v) => out.extend(v.to_le_bytes()),
            Self::I32(v) => out.extend(v.to_le_bytes()),
            Self::F32(v) => out.extend(v.to_le_bytes()),
            Self::Bool(v) => out.push(u8::from(v)),
            Self::U64(v) => out.extend(v.to_le_bytes()),
            Self::I64(v) => out.extend(v.to_le_bytes()),
            Self::F64(v) => out.extend(v.to_le_bytes()),
            Self::String(_) | Self::Array(_) => {}
        }
    }

    /// Approximate bytes this value holds: its own size plus its heap.
    pub fn heap_bytes(&self) -> u64 {
        let own = std::mem::size_of::<Self>() as u64;
        match self {
            Self::String(s) => own + s.len() as u64,
            Self::Array(a) => own + a.heap_bytes(),
            _ => own,
        }
    }

    /// Short name of the type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::U8(_) => "u8",
            Self::I8(_) => "i8",
            Self::U16(_) => "u16",
            Self::I16(_) => "i16",
            Self::U32(_) => "u32",
            Self::I32(_) => "i32",
            Self::F32(_) => "f32",
            Self::Bool(_) => "bool",
            Self::String(_) => "string",
            Self::Array(..) => "array",
            Self::U64(_) => "u64",
            Self::I64(_) => "i64",
            Self::F64(_) => "f64",
        }
    }
}

impl fmt::Display for MetaValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::String(s) => write!(f, "{s:?}"),
            Self::Array(a) => write!(f, "[{} values]", a.len()),
            Self::U8(v) => write!(f, "{v}"),
            Self::I8(v) => write!(f, "{v}"),
            Self::U16(v) => write!(f, "{v}"),
            Self::I16(v) => write!(f, "{v}"),
            Self::U32(v) => write!(f, "{v}"),
            Self::I32(v) => write!(f, "{v}"),
            Self::F32(v) => write!(f, "{v}"),
            Self::Bool(v) => write!(f, "{v}"),
            Self::U64(v) => write!(f, "{v}"),
            Self::I64(v) => write!(f, "{v}"),
            Self::F64(v) => write!(f, "{v}"),
        }
    }
}
