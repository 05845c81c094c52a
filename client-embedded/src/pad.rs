//! [`Axis`]: turning a joystick's raw ADC readings into the `-127..=127` of a [`Pad`].
//!
//! Cheap analog sticks rarely rest at mid-scale and rarely reach the rails, so each axis is
//! calibrated with its own minimum, centre and maximum, and a dead zone around the centre
//! keeps a stick at rest from steering. Pure integer arithmetic: no floats on a Cortex-M0+.
//!
//! [`Pad`]: crate::Pad

/// Calibration of one joystick axis: raw ADC counts to a stick value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Axis {
    /// Raw reading at full deflection to the negative side (left or up).
    pub min: u16,
    /// Raw reading at rest.
    pub centre: u16,
    /// Raw reading at full deflection to the positive side (right or down).
    pub max: u16,
    /// Raw counts either side of `centre` that read as 0. Default for [`Axis::TWELVE_BIT`]:
    /// 96 (2.3% of the range); larger hides a drifting stick, smaller gives finer control.
    pub deadzone: u16,
    /// Swap the directions, for a stick mounted the other way round.
    pub invert: bool,
}

impl Axis {
    /// A 12-bit ADC (RP2040, ESP32-C3, STM32) with the stick centred at mid-scale and a
    /// 96-count dead zone. Calibrate with [`Axis::new`] when the stick does not centre well.
    pub const TWELVE_BIT: Axis = Axis::new(0, 2048, 4095).with_deadzone(96);

    /// An axis from its measured extremes and rest reading, with no dead zone. `min` must be
    /// below `centre` and `centre` below `max` for the full range to be reachable; other
    /// values still map without panicking (a degenerate side reads 0).
    pub const fn new(min: u16, centre: u16, max: u16) -> Axis {
        Axis { min, centre, max, deadzone: 0, invert: false }
    }

    /// The same axis with a dead zone of `counts` either side of the centre.
    pub const fn with_deadzone(self, counts: u16) -> Axis {
        Axis { deadzone: counts, ..self }
    }

    /// The same axis with its directions swapped.
    pub const fn inverted(self) -> Axis {
        Axis { invert: !self.invert, ..self }
    }

    /// The stick value for a raw reading: 0 inside the dead zone, then linear to ±127 at
    /// `min` / `max` (clamped beyond them).
    pub fn map(&self, raw: u16) -> i8 {
        let (raw, centre) = (i32::from(raw), i32::from(self.centre));
        let dead = i32::from(self.deadzone);
        let value = if raw > centre + dead {
            scale(raw - centre - dead, i32::from(self.max) - centre - dead)
        } else if raw < centre - dead {
            -scale(centre - dead - raw, centre - dead - i32::from(self.min))
        } else {
            0
        };
        let value = if self.invert { -value } else { value };
        value as i8
    }
}

/// `offset` of `span` as 0..=127, rounded to nearest; a side with no span reads 0.
fn scale(offset: i32, span: i32) -> i32 {
    if span <= 0 {
        return 0;
    }
    ((offset.min(span) * 127 + span / 2) / span).clamp(0, 127)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twelve_bit_ends_centre_and_deadzone() {
        let axis = Axis::TWELVE_BIT;
        assert_eq!(axis.map(0), -127);
        assert_eq!(axis.map(4095), 127);
        assert_eq!(axis.map(2048), 0);
        assert_eq!(axis.map(2048 + 96), 0);
        assert_eq!(axis.map(2048 - 96), 0);
        assert_eq!(axis.map(2048 + 97), 0, "one count past the dead zone rounds to 0");
        assert!(axis.map(2048 + 200) > 0);
        assert!(axis.map(2048 - 200) < 0);
    }

    #[test]
    fn monotonic_and_bounded_over_every_reading() {
        for axis in [
            Axis::TWELVE_BIT,
            Axis::new(300, 1900, 3800).with_deadzone(50),
            Axis::TWELVE_BIT.inverted(),
        ] {
            let mut last = axis.map(0);
            for raw in 1..=u16::MAX {
                let value = axis.map(raw);
                assert!((-127..=127).contains(&value), "{raw} -> {value}");
                if axis.invert {
                    assert!(value <= last, "{raw}");
                } else {
                    assert!(value >= last, "{raw}");
                }
                last = value;
            }
        }
    }

    #[test]
    fn calibrated_extremes_reach_full_scale() {
        let axis = Axis::new(300, 1900, 3800).with_deadzone(50);
        assert_eq!(axis.map(300), -127);
        assert_eq!(axis.map(100), -127, "beyond min clamps");
        assert_eq!(axis.map(3800), 127);
        assert_eq!(axis.map(4095), 127);
        assert_eq!(axis.map(1900), 0);
        // Halfway between the dead zone's edge and max is about half scale.
        assert_eq!(axis.map(1950 + (3800 - 1950) / 2), 64);
    }

    #[test]
    fn inverted_swaps_sign() {
        let axis = Axis::TWELVE_BIT.inverted();
        assert_eq!(axis.map(0), 127);
        assert_eq!(axis.map(4095), -127);
        assert_eq!(axis.inverted(), Axis::TWELVE_BIT);
    }

    #[test]
    fn degenerate_calibration_does_not_panic() {
        let axis = Axis::new(2000, 2000, 2000).with_deadzone(3000);
        for raw in [0, 1000, 2000, 4095, u16::MAX] {
            assert_eq!(axis.map(raw), 0);
        }
        let backwards = Axis::new(4000, 2000, 100);
        assert_eq!(backwards.map(0), 0);
        assert_eq!(backwards.map(4095), 0);
    }
}
