//! Runs the demo network and shows the answer on an LED.

use crate::demo;
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::OutputPin;

/// LED on-time of one blink of a class, in milliseconds.
pub const BLINK_ON_MS: u32 = 150;
/// LED off-time after one blink of a class, in milliseconds.
pub const BLINK_OFF_MS: u32 = 250;
/// Pause after a class has been shown, in milliseconds.
pub const PAUSE_MS: u32 = 1000;
/// Number of fast blinks that signal a wrong answer.
pub const ERROR_BLINKS: u32 = 10;
/// On- and off-time of one error blink, in milliseconds.
pub const ERROR_BLINK_MS: u32 = 50;

/// The result of one inference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The demo sample that was classified.
    pub sample: usize,
    /// The class the network chose.
    pub class: usize,
    /// True if the logits equal the integer reference bit for bit.
    pub correct: bool,
    /// Ticks of the caller's counter the inference took (wrapping difference).
    pub ticks: u32,
}

/// The application: an LED and a delay, generic over embedded-hal 1.0.
#[derive(Debug)]
pub struct Blinker<P, D> {
    led: P,
    delay: D,
}

impl<P: OutputPin, D: DelayNs> Blinker<P, D> {
    /// Takes the LED pin (active high) and a delay provider.
    pub fn new(led: P, delay: D) -> Self {
        Self { led, delay }
    }

    /// Classifies demo sample `sample`, timing it with `now`, any free-running
    /// wrapping counter (a cycle counter or a microsecond timer).
    pub fn infer(&mut self, sample: usize, mut now: impl FnMut() -> u32) -> Outcome {
        let x = demo::input(sample);
        let mut hidden = [0.0; demo::HIDDEN];
        let mut logits = [0.0; demo::OUT];
        let start = now();
        demo::NET.forward(&x, &mut hidden, &mut logits);
        let ticks = now().wrapping_sub(start);
        Outcome {
            sample,
            class: demo::argmax(&logits),
            correct: demo::matches_reference(sample, &logits),
            ticks,
        }
    }

    /// Shows `outcome` on the LED: `class + 1` blinks then a pause when the
    /// answer is correct, [`ERROR_BLINKS`] fast blinks when it is not.
    pub fn show(&mut self, outcome: &Outcome) -> Result<(), P::Error> {
        if outcome.correct {
            for _ in 0..=outcome.class {
                self.blink(BLINK_ON_MS, BLINK_OFF_MS)?;
            }
            self.delay.delay_ms(PAUSE_MS);
        } else {
            for _ in 0..ERROR_BLINKS {
                self.blink(ERROR_BLINK_MS, ERROR_BLINK_MS)?;
            }
        }
        Ok(())
    }

    /// Gives the pin and the delay back.
    pub fn release(self) -> (P, D) {
        (self.led, self.delay)
    }

    fn blink(&mut self, on_ms: u32, off_ms: u32) -> Result<(), P::Error> {
        self.led.set_high()?;
        self.delay.delay_ms(on_ms);
        self.led.set_low()?;
        self.delay.delay_ms(off_ms);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use embedded_hal_mock::eh1::MockError;
    use embedded_hal_mock::eh1::delay::{CheckedDelay, NoopDelay, Transaction as Delay};
    use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction as Pin};
    use std::vec::Vec;

    fn blinks(n: u32, on: u32, off: u32) -> (Vec<Pin>, Vec<Delay>) {
        let mut pin = Vec::new();
        let mut delay = Vec::new();
        for _ in 0..n {
            pin.push(Pin::set(State::High));
            pin.push(Pin::set(State::Low));
            delay.push(Delay::delay_ms(on));
            delay.push(Delay::delay_ms(off));
        }
        (pin, delay)
    }

    #[test]
    fn infer_matches_reference_and_measures_ticks() {
        let mut app = Blinker::new(PinMock::new(&[]), NoopDelay::new());
        for sample in 0..demo::SAMPLES {
            let mut t = 100u32;
            let outcome = app.infer(sample, || {
                t += 7;
                t
            });
            assert_eq!(outcome.sample, sample);
            assert_eq!(outcome.class, demo::reference_class(sample));
            assert!(outcome.correct);
            assert_eq!(outcome.ticks, 7);
        }
        app.release().0.done();
    }

    #[test]
    fn ticks_wrap_around() {
        let mut app = Blinker::new(PinMock::new(&[]), NoopDelay::new());
        let mut readings = [u32::MAX - 1, 3].into_iter();
        let outcome = app.infer(0, || readings.next().unwrap());
        assert_eq!(outcome.ticks, 5);
        app.release().0.done();
    }

    #[test]
    fn correct_answer_blinks_class_plus_one_times() {
        let outcome = Outcome {
            sample: 0,
            class: 2,
            correct: true,
            ticks: 0,
        };
        let (pin, mut delay) = blinks(3, BLINK_ON_MS, BLINK_OFF_MS);
        delay.push(Delay::delay_ms(PAUSE_MS));
        let mut app = Blinker::new(PinMock::new(&pin), CheckedDelay::new(&delay));
        app.show(&outcome).unwrap();
        let (mut pin, mut delay) = app.release();
        pin.done();
        delay.done();
    }

    #[test]
    fn wrong_answer_blinks_the_error_pattern() {
        let outcome = Outcome {
            sample: 0,
            class: 2,
            correct: false,
            ticks: 0,
        };
        let (pin, delay) = blinks(ERROR_BLINKS, ERROR_BLINK_MS, ERROR_BLINK_MS);
        let mut app = Blinker::new(PinMock::new(&pin), CheckedDelay::new(&delay));
        app.show(&outcome).unwrap();
        let (mut pin, mut delay) = app.release();
        pin.done();
        delay.done();
    }

    #[test]
    fn pin_error_is_returned() {
        let outcome = Outcome {
            sample: 0,
            class: 0,
            correct: true,
            ticks: 0,
        };
        let pin =
            [Pin::set(State::High).with_error(MockError::Io(std::io::ErrorKind::NotConnected))];
        let mut app = Blinker::new(PinMock::new(&pin), CheckedDelay::new(&[]));
        assert!(app.show(&outcome).is_err());
        let (mut pin, mut delay) = app.release();
        pin.done();
        delay.done();
    }
}
