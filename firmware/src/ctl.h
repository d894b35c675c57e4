/* Control layer: gate capacitors, gains, learning switch, safe state and watchdog.
 *
 * Every setter validates its argument and returns 0 or a protocol error code (ERR_*);
 * nothing is ever clamped.  Voltages are mV, times ms/us as named.
 */
#ifndef LABCTL_CTL_H
#define LABCTL_CTL_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

enum {
    ERR_NONE = 0,
    ERR_CHECKSUM = 1,
    ERR_TOO_LONG = 2,
    ERR_UNKNOWN = 3,
    ERR_ARGUMENT = 4,
    ERR_RANGE = 5,
    ERR_FAULT = 6,
    ERR_READBACK = 7,
    ERR_BAD_BYTE = 8,
    ERR_BUSY = 9
};

typedef struct {
    uint8_t eta;       /* eta pot tap, eta = tap / 129 */
    uint8_t gain_free; /* free-copy amplifier pot tap, G(tap) in config.h */
    uint8_t gain_clamped;
    bool learning;     /* learning switch closed continuously */
    uint16_t wdt_ms;   /* host-silence timeout while learning */
    uint8_t faults;    /* FAULT_* bits, latched until CLR */
    uint32_t last_host_ms;
} ctl_state_t;

void ctl_init(void);
const ctl_state_t *ctl_state(void);
void ctl_safe(void);
void ctl_host_activity(void);
void ctl_poll(void);
uint8_t ctl_set_gate(uint8_t edge, int32_t mv);
uint8_t ctl_check_gate(int32_t edge, int32_t mv);
uint16_t ctl_read_gate(uint8_t edge);
uint8_t ctl_set_eta(int32_t tap);
uint8_t ctl_set_gains(int32_t tap_free, int32_t tap_clamped);
uint32_t ctl_taps_lambda_ppm(uint8_t tap_free, uint8_t tap_clamped);
uint32_t ctl_lambda_ppm(void);
uint32_t ctl_lambda_max_ppm(void);
uint8_t ctl_set_lambda(int32_t ppm);
uint8_t ctl_set_learning(int32_t on);
uint8_t ctl_window(int32_t us);
uint8_t ctl_set_wdt(int32_t ms);
void ctl_clear_faults(void);

#endif
