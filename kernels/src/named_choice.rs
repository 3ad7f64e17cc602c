//! `Display` and `FromStr` for the enums chosen by name on the command line and in files (formats,
//! presets, architectures, cache types): each has `ALL` (every value, in the order help lists them)
//! and `name()`; parsing an unknown name lists the known ones, taken from `ALL` so the message
//! cannot fall behind the enum.

/// Implements `Display` (the name) and `FromStr` (error: ``unknown WHAT `s` (known: a, b)``) for
/// an enum with `const ALL: [Self; N]` and `fn name(self) -> &'static str`.
macro_rules! named_choice {
    ($ty:ty, $what:literal) => {
        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                Self::ALL
                    .into_iter()
                    .find(|v| v.name() == s)
                    .ok_or_else(|| {
                        format!(
                            concat!("unknown ", $what, " `{}` (known: {})"),
                            s,
                            Self::ALL.map(Self::name).join(", ")
                        )
                    })
            }
        }
    };
}

pub(crate) use named_choice;

#[cfg(test)]
mod tests {
    use crate::cpu::{KvCacheType, PrefetchHint};
    use crate::format::embedding::EmbeddingFormat;
    use crate::format::ternary::TernaryFormat;
    use crate::model::{Architecture, Preset};

    /// Every name parses back to its value, and an unknown one is refused listing them all.
    fn check<T>(all: &[T], message: &str)
    where
        T: Copy + PartialEq + std::fmt::Debug + std::fmt::Display + std::str::FromStr<Err = String>,
    {
        for &v in all {
            assert_eq!(v.to_string().parse::<T>(), Ok(v));
        }
        assert_eq!("nope".parse::<T>(), Err(message.to_string()));
    }

    #[test]
    fn names_round_trip_and_an_unknown_one_lists_the_known() {
        check(
            &KvCacheType::ALL,
            "unknown KV cache type `nope` (known: f32, f16)",
        );
        check(
            &PrefetchHint::ALL,
            "unknown prefetch hint `nope` (known: l1, l2, nta, l2_l1)",
        );
        check(
            &EmbeddingFormat::ALL,
            "unknown embedding format `nope` (known: f16, q8_0, q6_k)",
        );
        check(
            &TernaryFormat::ALL,
            "unknown ternary format `nope` (known: i2_s, tq2_0, tq1_0)",
        );
        check(
            &Architecture::ALL,
            "unknown architecture `nope` (known: bitnet-b1.58, bitnet)",
        );
        check(&Preset::ALL, "unknown preset `nope` (known: tiny, 2b4t)");
    }
}
