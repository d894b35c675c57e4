/* Simulated board (see simboard.h). */
#include "simboard.h"

#include <math.h>

#include "config.h"

#define RC_S 2.2e-3

simboard_t simboard;

void simboard_reset(uint64_t now_us, double initial_gate_v)
{
    for (int i = 0; i < N_GATES; ++i) {
        simboard.gate_v[i] = initial_gate_v;
    }
    simboard.channel = -1;
    simboard.charging = false;
    simboard.dac_code = 0;
    simboard.t_last_us = now_us;
    simboard.pot[0] = simboard.pot[1] = simboard.pot[2] = 0;
    simboard.learn = false;
    simboard.learn_windows = 0;
    simboard.broken_channel = -1;
}

static double dac_volts(void)
{
    return (double)simboard.dac_code * (double)DAC_FULL_SCALE_MV / (double)DAC_COUNTS / 1000.0;
}

void simboard_advance(uint64_t now_us)
{
    if (now_us <= simboard.t_last_us) {
        return;
    }
    if (simboard.charging && simboard.channel >= 0
        && simboard.channel != simboard.broken_channel) {
        double dt = (double)(now_us - simboard.t_last_us) * 1e-6;
        double target = dac_volts();
        double *v = &simboard.gate_v[simboard.channel];
        *v = target + (*v - target) * exp(-dt / RC_S);
    }
    simboard.t_last_us = now_us;
}

void simboard_mux(uint64_t now_us, int8_t channel)
{
    simboard_advance(now_us);
    simboard.channel = (channel >= 0 && channel < N_GATES) ? channel : -1;
}

void simboard_charge(uint64_t now_us, bool on)
{
    simboard_advance(now_us);
    simboard.charging = on;
}

void simboard_dac(uint64_t now_us, uint16_t code)
{
    simboard_advance(now_us);
    simboard.dac_code = code & 0x0FFFU;
}

uint16_t simboard_adc(uint64_t now_us)
{
    simboard_advance(now_us);
    double v = 0.0;
    if (simboard.channel >= 0) {
        v = simboard.charging ? dac_volts() : simboard.gate_v[simboard.channel];
    }
    double counts = floor(v * 1000.0 / (double)ADC_MV_PER_COUNT);
    if (counts < 0.0) {
        counts = 0.0;
    }
    return counts > 1023.0 ? 1023U : (uint16_t)counts;
}

double simboard_amp_gain(uint8_t tap)
{
    double r_feedback = (double)GAIN_RFIX_OHM + (double)GAIN_RWIPER_OHM
                        + (double)tap * (double)GAIN_RPOT_OHM / (double)POT_MAX;
    return 1.0 + r_feedback / (double)GAIN_RG_OHM;
}

double simboard_lambda(void)
{
    double ratio = simboard_amp_gain(simboard.pot[POT_GAIN_FREE])
                   / simboard_amp_gain(simboard.pot[POT_GAIN_CLAMPED]);
    return 1.0 - ratio * ratio;
}
