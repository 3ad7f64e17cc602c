//! GGUF metadata arrays, stored compactly: fixed-size scalars keep their little-endian bytes (one
//! byte per `u8` element, not a 32-byte enum value each), strings and nested arrays their values.

use super::value::MetaValue;

/// Bytes of one element of a fixed-size GGUF value type, or `None` for strings and arrays.
pub fn scalar_size(type_id: u32) -> Option<usize> {
    match type_id {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        10..=12 => Some(8),
        _ => None,
    }
}

/// The elements of a GGUF array value.
#[derive(Debug, Clone, PartialEq)]
pub struct MetaArray {
    elem: u32,
    items: Items,
}

#[derive(Debug, Clone, PartialEq)]
enum Items {
    /// Little-endian bytes of `len × scalar_size(elem)`.
    Scalars(Vec<u8>),
    /// Strings or nested arrays.
    Values(Vec<MetaValue>),
}

impl MetaArray {
    /// An array of fixed-size scalars from their little-endian bytes; `None` when `elem` is not a
    /// scalar type or the byte count is not a whole number of elements.
    pub fn from_scalar_bytes(elem: u32, bytes: Vec<u8>) -> Option<Self> {
        let size = scalar_size(elem)?;
        bytes.len().is_multiple_of(size).then_some(Self {
            elem,
            items: Items::Scalars(bytes),
        })
    }

    /// An array from values, all of type `elem` (scalars are packed). Values of another type are
    /// an error naming the first one.
    pub fn from_values(elem: u32, values: Vec<MetaValue>) -> Result<Self, String> {
        if let Some(v) = values.iter().find(|v| v.type_id() != elem) {
            return Err(format!(
                "array of type {elem} holds a {} value",
                v.type_name()
            ));
        }
        if scalar_size(elem).is_some() {
            let mut bytes = Vec::new();
            for v in &values {
                v.write_scalar_le(&mut bytes);
            }
            return Ok(Self {
                elem,
                items: Items::Scalars(bytes),
            });
        }
        Ok(Self {
            elem,
            items: Items::Values(values),
        })
    }

    /// GGUF type id of the elements.
    pub fn elem_type(&self) -> u32 {
        self.elem
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.items {
            Items::Scalars(b) => b.len() / scalar_size(self.elem).unwrap_or(1),
            Items::Values(v) => v.len(),
        }
    }

    /// No elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i`, decoded.
    pub fn get(&self, i: usize) -> Option<MetaValue> {
        match &self.items {
            Items::Scalars(b) => {
                let size = scalar_size(self.elem)?;
                let at = i.checked_mul(size)?;
                MetaValue::scalar_from_le(self.elem, b.get(at..at + size)?)
            }
            Items::Values(v) => v.get(i).cloned(),
        }
    }

    /// Every element, decoded one at a time.
    pub fn iter(&self) -> impl Iterator<Item = MetaValue> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// The raw little-endian bytes of a scalar array (what the file holds).
    pub fn scalar_bytes(&self) -> Option<&[u8]> {
        match &self.items {
            Items::Scalars(b) => Some(b),
            Items::Values(_) => None,
        }
    }

    /// Strings or nested arrays (`None` for scalar arrays).
    pub fn values(&self) -> Option<&[MetaValue]> {
        match &self.items {
            Items::Scalars(_) => None,
            Items::Values(v) => Some(v),
        }
    }

    /// Approximate heap bytes this array holds (for the reader's metadata memory cap).
    pub fn heap_bytes(&self) -> u64 {
        match &self.items {
            Items::Scalars(b) => b.len() as u64,
            Items::Values(v) => v.iter().map(MetaValue::heap_bytes).sum(),
        }
    }
}
