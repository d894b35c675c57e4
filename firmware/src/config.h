/* Build-wide constants of the labctl gate-controller firmware: version, ranges, scaling.
 *
 * Physical quantities are integers in the units named by their suffix (mV, us, ms) so the
 * AVR build needs no floating point.  See firmware/README.md for the parts behind them.
 */
#ifndef LABCTL_CONFIG_H
#define LABCTL_CONFIG_H

#define FW_VERSION "1.1.0"
#define FW_PROTOCOL 1
#define FW_IDENTITY "LABCTL,GATEFW,32CH," FW_VERSION

#define N_GATES 32

/* Gate voltage range accepted by GATE/GATES (PHYSICS.md section 5: about 1.0-5.5 V). */
#define GATE_MIN_MV 1000
#define GATE_MAX_MV 5500

/* DAC: MCP4921 12-bit, Vref 4.096 V, output buffer gain 1.5 -> 0..6.144 V, 1.5 mV/LSB. */
#define DAC_FULL_SCALE_MV 6144UL
#define DAC_COUNTS 4096UL

/* Readback: mux common -> follower -> 1:2 divider -> ADC0, AREF 4.096 V, 10 bit -> 8 mV/LSB. */
#define ADC_MV_PER_COUNT 8U
#define ADC_SAMPLES 4U

/* Gate capacitor 2.2 uF through 1 kOhm: RC = 2.2 ms; one settling pass is >= 5 RC. */
#define RC_US 2200U
#define SETTLE_MS 11U
#define SETTLE_PASSES 4U
#define VERIFY_TOL_MV 24U /* 3 ADC counts */

/* Digital pots: MCP4131-class, 7 bit, taps 0..128. */
#define POT_MAX 128U
#define POT_ETA 0U
#define POT_GAIN_FREE 1U
#define POT_GAIN_CLAMPED 2U
#define ETA_SAFE 0U
#define GAIN_SAFE 128U

/* Measurement amplifiers (free and clamped copy, identical): non-inverting, ground leg
 * R_g, feedback leg R_fix in series with an MCP4131-502 rheostat (R_AB = 5 kOhm, wiper
 * R_W = 75 Ohm typ.) at tap n:  G(n) = 1 + (R_fix + R_W + n R_AB / 128) / R_g,
 * x10.64 (n = 0) .. x11.005 (n = 128).  (1 - lambda) = (G_free / G_clamped)^2.
 * LAM keeps the clamped stage at GAIN_TAP_CLAMPED and trims the free one:
 * lambda = 0 .. 0.065224 in steps of 5.0e-4 .. 5.2e-4 (lambda is handled in ppm). */
#define GAIN_RG_OHM 13700UL
#define GAIN_RFIX_OHM 132000UL
#define GAIN_RWIPER_OHM 75UL
#define GAIN_RPOT_OHM 5000UL
#define GAIN_TAP_CLAMPED POT_MAX

/* Timed learning window (Timer1 one-shot, 0.5 us resolution on the AVR). */
#define WINDOW_MIN_US 10U
#define WINDOW_MAX_US 30000U

/* Host-silence watchdog while learning. */
#define WDT_MIN_MS 50U
#define WDT_MAX_MS 60000U
#define WDT_DEFAULT_MS 1000U

/* Line protocol. */
#define LINE_MAX 200U

/* Fault bits reported by STAT? */
#define FAULT_HOST_SILENT 1U
#define FAULT_READBACK 2U
#define FAULT_WDT_RESET 4U

#endif
