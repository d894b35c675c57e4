/* Test HAL: in-memory UART (hal_test_* functions feed input and collect output), the
 * simulated board, and a virtual clock that advances only when the firmware waits.
 */
#include "hal_test.h"

#include <string.h>

#include "simboard.h"

static uint64_t vt_us;
static uint64_t window_end_us;
static bool window_open;
static char tx[4096];
static size_t tx_len;
static const uint8_t *rx;
static size_t rx_len;
static size_t rx_pos;
static bool wdt_reset_flag;

void hal_test_reset(bool watchdog_reset)
{
    vt_us = 0;
    window_open = false;
    tx_len = 0;
    rx = NULL;
    rx_len = rx_pos = 0;
    wdt_reset_flag = watchdog_reset;
    simboard_reset(0, 1.5);
}

void hal_test_advance_ms(uint32_t ms) { vt_us += (uint64_t)ms * 1000ULL; }

void hal_test_input(const uint8_t *data, size_t n)
{
    rx = data;
    rx_len = n;
    rx_pos = 0;
}

const char *hal_test_output(size_t *n)
{
    tx[tx_len < sizeof tx ? tx_len : sizeof tx - 1] = '\0';
    if (n != NULL) {
        *n = tx_len;
    }
    return tx;
}

void hal_test_clear_output(void) { tx_len = 0; }

void hal_init(void) {}
uint32_t hal_millis(void) { return (uint32_t)(vt_us / 1000ULL); }
void hal_delay_ms(uint16_t ms) { vt_us += (uint64_t)ms * 1000ULL; }
void hal_idle(void) { vt_us += 50ULL; }
void hal_wdt_kick(void) {}
void hal_reboot(void) { vt_us = 0; }
bool hal_reset_was_watchdog(void) { return wdt_reset_flag; }

int hal_uart_getc(void) { return rx_pos < rx_len ? rx[rx_pos++] : -1; }

void hal_uart_write(const char *s, uint16_t n)
{
    if (tx_len + n < sizeof tx) {
        memcpy(tx + tx_len, s, n);
        tx_len += n;
    } else {
        tx_len = 0; /* fuzzing floods output: keep the buffer bounded */
    }
}

void hal_dac_write(uint16_t code) { simboard_dac(vt_us, code); }
void hal_mux_select(int8_t channel) { simboard_mux(vt_us, channel); }
void hal_charge(bool on) { simboard_charge(vt_us, on); }
uint16_t hal_adc_read(void) { vt_us += 104ULL; return simboard_adc(vt_us); }
void hal_pot_write(uint8_t pot, uint8_t code) { if (pot < 3U) simboard.pot[pot] = code; }
void hal_learn(bool on) { simboard.learn = on; }

void hal_learn_window_start(uint16_t us)
{
    simboard.learn = true;
    simboard.learn_windows++;
    window_open = true;
    window_end_us = vt_us + us;
}

bool hal_learn_window_busy(void)
{
    if (window_open && vt_us >= window_end_us) {
        window_open = false;
        simboard.learn = false;
    }
    return window_open;
}
