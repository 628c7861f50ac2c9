//! Sample conversion to f32 for every format a device may deliver: full scale maps to +/-1.0.
//! Pure; runs on the audio thread.

/// A sample type the callback can take, with its full scale mapped to +/-1.0: the most
/// negative integer reads exactly -1.0, unsigned types are centred on their midpoint.
pub trait ToF32: Copy + Send + 'static {
    /// The sample as f32.
    fn to_f32(self) -> f32;
}

macro_rules! signed {
    ($t:ty, $scale:expr) => {
        impl ToF32 for $t {
            #[inline(always)]
            fn to_f32(self) -> f32 {
                (self as f64 * (1.0 / $scale)) as f32
            }
        }
    };
}

signed!(i8, 128.0);
signed!(i16, 32_768.0);
signed!(i32, 2_147_483_648.0);
signed!(i64, 9_223_372_036_854_775_808.0);

impl ToF32 for u8 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        (f32::from(self) - 128.0) * (1.0 / 128.0)
    }
}

impl ToF32 for u16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        (f32::from(self) - 32_768.0) * (1.0 / 32_768.0)
    }
}

impl ToF32 for u32 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        ((f64::from(self) - 2_147_483_648.0) * (1.0 / 2_147_483_648.0)) as f32
    }
}

impl ToF32 for u64 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        ((self as f64 - 9_223_372_036_854_775_808.0) * (1.0 / 9_223_372_036_854_775_808.0)) as f32
    }
}

impl ToF32 for cpal::I24 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        (f64::from(self.inner()) * (1.0 / 8_388_608.0)) as f32
    }
}

impl ToF32 for cpal::U24 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        ((f64::from(self.inner()) - 8_388_608.0) * (1.0 / 8_388_608.0)) as f32
    }
}

impl ToF32 for f32 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
}

impl ToF32 for f64 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self as f32
    }
}
