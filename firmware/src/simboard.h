/* Simulated board for the host builds: 32 gate capacitors charged through 1 kOhm from the
 * DAC (RC = 2.2 ms), read back through a 1:2 divider into a 10-bit ADC (AREF 4.096 V),
 * three 7-bit pots (eta; free and clamped measurement-amplifier gains, modelled as the
 * analog stages of config.h) and the learning switch.  Time is passed in by the HAL
 * (microseconds).
 */
#ifndef LABCTL_SIMBOARD_H
#define LABCTL_SIMBOARD_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    double gate_v[32];       /* capacitor voltages, V */
    int8_t channel;          /* selected mux channel or -1 */
    bool charging;           /* DAC charge line connected */
    uint16_t dac_code;
    uint64_t t_last_us;      /* time up to which gate_v is integrated */
    uint8_t pot[3];
    bool learn;
    uint32_t learn_windows;  /* number of timed windows opened */
    int8_t broken_channel;   /* test hook: this capacitor ignores charging (-1 = none) */
} simboard_t;

extern simboard_t simboard;

void simboard_reset(uint64_t now_us, double initial_gate_v);
void simboard_advance(uint64_t now_us);
void simboard_mux(uint64_t now_us, int8_t channel);
void simboard_charge(uint64_t now_us, bool on);
void simboard_dac(uint64_t now_us, uint16_t code);
uint16_t simboard_adc(uint64_t now_us);
/* Voltage gain (V/V) of a measurement amplifier whose trim rheostat is at tap (0..128). */
double simboard_amp_gain(uint8_t tap);
/* lambda = 1 - (G_free / G_clamped)^2 of the gains the pots are set to now. */
double simboard_lambda(void);

#endif
