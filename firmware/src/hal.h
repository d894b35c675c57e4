/* Hardware abstraction layer: everything the protocol/control code needs from a board.
 *
 * Implemented by hal_avr.c (ATmega2560), hal_host.c (pseudo-terminal + simulated board,
 * real time) and hal_test.c (in-memory UART + simulated board, virtual time).
 */
#ifndef LABCTL_HAL_H
#define LABCTL_HAL_H

#include <stdbool.h>
#include <stdint.h>

void hal_init(void);
/* Monotonic milliseconds since power-on (wraps after 49 days). */
uint32_t hal_millis(void);
/* Wait at least ms milliseconds (keeps the hardware watchdog fed). */
void hal_delay_ms(uint16_t ms);
/* Sleep until something may have happened (a byte, a timer tick). */
void hal_idle(void);
/* Feed the hardware watchdog. */
void hal_wdt_kick(void);
/* Restart the firmware (a commanded reboot, not a fault); may return on the host. */
void hal_reboot(void);
/* True if the last reset was caused by the hardware watchdog (not a commanded reboot). */
bool hal_reset_was_watchdog(void);

/* Next received byte, or -1 if none is waiting. */
int hal_uart_getc(void);
/* Send n bytes (blocks until queued). */
void hal_uart_write(const char *s, uint16_t n);

/* SPI DAC code (0..4095) driving the charge line. */
void hal_dac_write(uint16_t code);
/* Select gate channel 0..31 on the two 16:1 muxes, or -1 to disable both. */
void hal_mux_select(int8_t channel);
/* Connect (true) or isolate (false) the DAC charge line from the mux common. */
void hal_charge(bool on);
/* One ADC conversion of the readback line (counts, 0..1023). */
uint16_t hal_adc_read(void);
/* Digital pot `pot` (POT_ETA, POT_GAIN_FREE, POT_GAIN_CLAMPED) to tap 0..128. */
void hal_pot_write(uint8_t pot, uint8_t code);
/* Learning switch of every edge: closed (true) or open (false). */
void hal_learn(bool on);
/* Close the learning switch for `us` microseconds, timed by a hardware timer. */
void hal_learn_window_start(uint16_t us);
/* True while a timed learning window is still open. */
bool hal_learn_window_busy(void);

#endif
