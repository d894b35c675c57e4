/* Control layer implementation (see ctl.h). */
#include "ctl.h"

#include "hal.h"

static ctl_state_t st;

static void apply_gains(void)
{
    hal_pot_write(POT_ETA, st.eta);
    hal_pot_write(POT_GAIN_FREE, st.gain_free);
    hal_pot_write(POT_GAIN_CLAMPED, st.gain_clamped);
}

void ctl_safe(void)
{
    /* Learning off first, then isolate the charge line, then the safe gains. */
    hal_learn(false);
    st.learning = false;
    hal_charge(false);
    hal_mux_select(-1);
    hal_dac_write(0);
    st.eta = ETA_SAFE;
    st.gain_free = GAIN_SAFE;
    st.gain_clamped = GAIN_SAFE;
    apply_gains();
}

void ctl_init(void)
{
    st.wdt_ms = WDT_DEFAULT_MS;
    st.faults = hal_reset_was_watchdog() ? FAULT_WDT_RESET : 0U;
    st.last_host_ms = hal_millis();
    ctl_safe();
}

const ctl_state_t *ctl_state(void) { return &st; }

void ctl_host_activity(void) { st.last_host_ms = hal_millis(); }

void ctl_poll(void)
{
    hal_wdt_kick();
    if (st.learning && (uint32_t)(hal_millis() - st.last_host_ms) > st.wdt_ms) {
        ctl_safe();
        st.faults |= FAULT_HOST_SILENT;
    }
}

uint8_t ctl_check_gate(int32_t edge, int32_t mv)
{
    if (edge < 0 || edge >= N_GATES || mv < GATE_MIN_MV || mv > GATE_MAX_MV) {
        return ERR_RANGE;
    }
    return ERR_NONE;
}

static uint16_t read_selected_mv(void)
{
    uint32_t sum = 0;
    for (uint8_t i = 0; i < ADC_SAMPLES; ++i) {
        sum += hal_adc_read();
    }
    /* mean count times the LSB, plus half an LSB (centre of the quantisation bin) */
    return (uint16_t)((sum * ADC_MV_PER_COUNT + ADC_SAMPLES / 2U) / ADC_SAMPLES
                      + ADC_MV_PER_COUNT / 2U);
}

/* Charging time (ms) for a step of step_mv to settle to < 1 mV: n RC with e^n > |step|,
 * at least SETTLE_MS (5 RC). */
static uint16_t settle_time_ms(int32_t step_mv)
{
    uint32_t step = (uint32_t)(step_mv < 0 ? -step_mv : step_mv);
    uint32_t e_pow = 16U; /* e^n in units of 1/16 (no overflow for |step| < 60 V) */
    uint16_t n = 0;
    while (e_pow < step * 16U && n < 12U) {
        e_pow = e_pow * 2718U / 1000U;
        ++n;
    }
    uint16_t ms = (uint16_t)((n * RC_US + 999U) / 1000U);
    return ms < SETTLE_MS ? SETTLE_MS : ms;
}

uint16_t ctl_read_gate(uint8_t edge)
{
    hal_charge(false);
    hal_mux_select((int8_t)edge);
    uint16_t mv = read_selected_mv();
    hal_mux_select(-1);
    return mv;
}

uint8_t ctl_set_gate(uint8_t edge, int32_t mv)
{
    if (ctl_check_gate(edge, mv) != ERR_NONE) {
        return ERR_RANGE;
    }
    uint16_t code = (uint16_t)(((uint32_t)mv * DAC_COUNTS + DAC_FULL_SCALE_MV / 2U)
                               / DAC_FULL_SCALE_MV);
    hal_charge(false);
    hal_mux_select((int8_t)edge);
    uint16_t settle_ms = settle_time_ms((int32_t)read_selected_mv() - mv);
    hal_dac_write(code);
    int32_t diff = 0;
    for (uint8_t pass = 0; pass < SETTLE_PASSES; ++pass) {
        /* charge for >= 5 RC, isolate, read back; repeat while more than 1 ADC count off */
        hal_charge(true);
        hal_delay_ms(pass == 0U ? settle_ms : SETTLE_MS);
        hal_charge(false);
        diff = (int32_t)read_selected_mv() - mv;
        if (diff <= (int32_t)ADC_MV_PER_COUNT && diff >= -(int32_t)ADC_MV_PER_COUNT) {
            break;
        }
    }
    hal_mux_select(-1);
    if (diff > (int32_t)VERIFY_TOL_MV || diff < -(int32_t)VERIFY_TOL_MV) {
        st.faults |= FAULT_READBACK;
        return ERR_READBACK;
    }
    return ERR_NONE;
}

uint8_t ctl_set_eta(int32_t tap)
{
    if (tap < 0 || tap > (int32_t)POT_MAX) {
        return ERR_RANGE;
    }
    st.eta = (uint8_t)tap;
    hal_pot_write(POT_ETA, st.eta);
    return ERR_NONE;
}

uint8_t ctl_set_gains(int32_t tap_free, int32_t tap_clamped)
{
    if (tap_free < 0 || tap_clamped < 0 || tap_free > (int32_t)POT_MAX
        || tap_clamped > (int32_t)POT_MAX || tap_free > tap_clamped) {
        return ERR_RANGE; /* G_free > G_clamped would mean lambda < 0 */
    }
    st.gain_free = (uint8_t)tap_free;
    st.gain_clamped = (uint8_t)tap_clamped;
    hal_pot_write(POT_GAIN_FREE, st.gain_free);
    hal_pot_write(POT_GAIN_CLAMPED, st.gain_clamped);
    return ERR_NONE;
}

/* 128 R_g G(tap) in Ohm: an exact integer for every tap (config.h). */
static uint32_t loop_units(uint8_t tap)
{
    return (uint32_t)(POT_MAX * (GAIN_RG_OHM + GAIN_RFIX_OHM + GAIN_RWIPER_OHM)
                      + tap * GAIN_RPOT_OHM);
}

_Static_assert(POT_MAX * (GAIN_RG_OHM + GAIN_RFIX_OHM + GAIN_RWIPER_OHM + GAIN_RPOT_OHM)
                   < 0x7FFFFFFFUL,
               "gain loop units must fit 31 bits so the squares fit 64 bits");

uint32_t ctl_taps_lambda_ppm(uint8_t tap_free, uint8_t tap_clamped)
{
    /* lambda = 1 - (a_f / a_c)^2 = (a_c - a_f)(a_c + a_f) / a_c^2, in ppm rounded half up.
     * q * 10^6 can exceed 64 bits, so divide in two steps of 10^3 (exact). */
    if (tap_free > tap_clamped || tap_clamped > POT_MAX) {
        return 0;
    }
    uint64_t a_f = loop_units(tap_free), a_c = loop_units(tap_clamped);
    uint64_t den = a_c * a_c;
    uint64_t x = (a_c - a_f) * (a_c + a_f) * 1000U;
    uint64_t hi = x / den, rem = x % den;
    return (uint32_t)(hi * 1000U + (rem * 1000U + den / 2U) / den);
}

uint32_t ctl_lambda_ppm(void) { return ctl_taps_lambda_ppm(st.gain_free, st.gain_clamped); }

uint32_t ctl_lambda_max_ppm(void) { return ctl_taps_lambda_ppm(0, GAIN_TAP_CLAMPED); }

uint8_t ctl_set_lambda(int32_t ppm)
{
    if (ppm < 0 || (uint32_t)ppm > ctl_lambda_max_ppm()) {
        return ERR_RANGE;
    }
    /* lambda falls as the free tap rises: smallest tap with lambda <= ppm, or its lower
     * neighbour if that is strictly closer (a tie keeps the smaller lambda). */
    uint8_t lo = 0, hi = GAIN_TAP_CLAMPED;
    while (lo < hi) {
        uint8_t mid = (uint8_t)((lo + hi) / 2U);
        if (ctl_taps_lambda_ppm(mid, GAIN_TAP_CLAMPED) <= (uint32_t)ppm) {
            hi = mid;
        } else {
            lo = (uint8_t)(mid + 1U);
        }
    }
    uint8_t tap = hi;
    if (tap > 0U) {
        uint32_t below = (uint32_t)ppm - ctl_taps_lambda_ppm(tap, GAIN_TAP_CLAMPED);
        uint32_t above = ctl_taps_lambda_ppm((uint8_t)(tap - 1U), GAIN_TAP_CLAMPED)
                         - (uint32_t)ppm;
        if (above < below) {
            --tap;
        }
    }
    return ctl_set_gains(tap, GAIN_TAP_CLAMPED);
}

uint8_t ctl_set_learning(int32_t on)
{
    if (on != 0 && on != 1) {
        return ERR_RANGE;
    }
    if (on == 1 && (st.faults & FAULT_HOST_SILENT)) {
        return ERR_FAULT;
    }
    st.learning = (on == 1);
    st.last_host_ms = hal_millis();
    hal_learn(st.learning);
    return ERR_NONE;
}

uint8_t ctl_window(int32_t us)
{
    if (us < (int32_t)WINDOW_MIN_US || us > (int32_t)WINDOW_MAX_US) {
        return ERR_RANGE;
    }
    if (st.faults & FAULT_HOST_SILENT) {
        return ERR_FAULT;
    }
    if (st.learning || hal_learn_window_busy()) {
        return ERR_BUSY;
    }
    hal_learn_window_start((uint16_t)us);
    while (hal_learn_window_busy()) {
        hal_idle();
    }
    return ERR_NONE;
}

uint8_t ctl_set_wdt(int32_t ms)
{
    if (ms < (int32_t)WDT_MIN_MS || ms > (int32_t)WDT_MAX_MS) {
        return ERR_RANGE;
    }
    st.wdt_ms = (uint16_t)ms;
    return ERR_NONE;
}

void ctl_clear_faults(void) { st.faults = 0; }
