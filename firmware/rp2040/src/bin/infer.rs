//! Classifies the demo samples in a loop: logs each class and the time of its
//! inference (microseconds of the 1 MHz timer, and the cycles they make at
//! the core clock) over RTT, and blinks the class on the Pico's LED (GPIO25):
//! `class + 1` blinks, then a pause.
#![no_std]
#![no_main]

use defmt_rtt as _;
use myelin_app::{Blinker, demo};
use panic_probe as _;
use rp2040_hal::{self as hal, Clock, pac};

/// Second-stage bootloader for the Pico's W25Q080 flash.
#[unsafe(link_section = ".boot2")]
#[used]
pub static BOOT2: [u8; 256] = rp2040_boot2::BOOT_LOADER_W25Q080;

/// The Pico's crystal.
const XTAL_FREQ_HZ: u32 = 12_000_000;

#[hal::entry]
fn main() -> ! {
    let mut pac = pac::Peripherals::take().expect("peripherals taken once");
    let mut watchdog = hal::Watchdog::new(pac.WATCHDOG);
    let Ok(clocks) = hal::clocks::init_clocks_and_plls(
        XTAL_FREQ_HZ,
        pac.XOSC,
        pac.CLOCKS,
        pac.PLL_SYS,
        pac.PLL_USB,
        &mut pac.RESETS,
        &mut watchdog,
    ) else {
        panic!("clock setup failed");
    };
    let timer = hal::Timer::new(pac.TIMER, &mut pac.RESETS, &clocks);
    let sio = hal::Sio::new(pac.SIO);
    let pins = hal::gpio::Pins::new(
        pac.IO_BANK0,
        pac.PADS_BANK0,
        sio.gpio_bank0,
        &mut pac.RESETS,
    );
    let led = pins.gpio25.into_push_pull_output();
    let cpu_mhz = clocks.system_clock.freq().to_MHz();
    let mut app = Blinker::new(led, timer);
    defmt::info!(
        "myelin on RP2040 at {} MHz: dense {}-{}-{}, {} MACs per inference",
        cpu_mhz,
        demo::IN,
        demo::HIDDEN,
        demo::OUT,
        demo::MACS
    );
    loop {
        for sample in 0..demo::SAMPLES {
            let outcome = app.infer(sample, || timer.get_counter_low());
            defmt::info!(
                "sample {}: class {} ({=str}), {} us, ~{} cycles",
                outcome.sample,
                outcome.class,
                if outcome.correct { "exact" } else { "WRONG" },
                outcome.ticks,
                outcome.ticks * cpu_mhz
            );
            let Ok(()) = app.show(&outcome);
        }
    }
}
