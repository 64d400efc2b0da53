//! Classifies the demo samples in a loop: logs each class and the DWT cycle
//! count of its inference over RTT, and blinks the class on the LED (PA5, the
//! green LD2 of a Nucleo-F411RE): `class + 1` blinks, then a pause.
#![no_std]
#![no_main]

use cortex_m::peripheral::DWT;
use cortex_m_rt::entry;
use defmt_rtt as _;
use myelin_app::{Blinker, demo};
use panic_probe as _;
use stm32f4xx_hal::{pac, prelude::*, rcc::Config};

/// Core clock, from the internal 16 MHz oscillator through the PLL.
const SYSCLK_MHZ: u32 = 100;

#[entry]
fn main() -> ! {
    let dp = pac::Peripherals::take().expect("device peripherals taken once");
    let mut cp = cortex_m::Peripherals::take().expect("core peripherals taken once");
    let mut rcc = dp.RCC.freeze(Config::hsi().sysclk(SYSCLK_MHZ.MHz()));
    cp.DCB.enable_trace();
    cp.DWT.enable_cycle_counter();

    let gpioa = dp.GPIOA.split(&mut rcc);
    let led = gpioa.pa5.into_push_pull_output();
    let delay = cp.SYST.delay(&rcc.clocks);
    let mut app = Blinker::new(led, delay);
    defmt::info!(
        "myelin on STM32F411 at {} MHz: dense {}-{}-{}, {} MACs per inference",
        SYSCLK_MHZ,
        demo::IN,
        demo::HIDDEN,
        demo::OUT,
        demo::MACS
    );
    loop {
        for sample in 0..demo::SAMPLES {
            let outcome = app.infer(sample, DWT::cycle_count);
            defmt::info!(
                "sample {}: class {} ({=str}), {} cycles, {=f32} cycles/MAC",
                outcome.sample,
                outcome.class,
                if outcome.correct { "exact" } else { "WRONG" },
                outcome.ticks,
                outcome.ticks as f32 / demo::MACS as f32
            );
            let Ok(()) = app.show(&outcome);
        }
    }
}
