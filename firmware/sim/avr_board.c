/* simavr board harness: runs the ATmega2560 firmware ELF and simulates what it is wired to
 * (firmware/README.md): the SPI DAC and three digital pots (chip selects on PORTC), the two
 * 16:1 muxes, charge and learning switches (PORTA) and the 32 gate capacitors read back
 * through ADC0 (AREF 4.096 V).  The capacitor model is the host build's (src/simboard.c).
 * UART0 is bridged to a pseudo-terminal by libsimavrparts' uart_pty; the harness prints
 * "PTY <path>" on stdout and runs until killed or until its parent process exits.
 *
 * Usage: avr-board firmware.elf
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "avr_adc.h"
#include "avr_ioport.h"
#include "avr_spi.h"
#include "sim_avr.h"
#include "sim_elf.h"
#include "uart_pty.h"

#include "../src/config.h"
#include "../src/simboard.h"

#define PA_EN_A 0x10U
#define PA_EN_B 0x20U
#define PA_CHARGE 0x40U
#define PA_LEARN 0x80U

static avr_t *avr;
static uart_pty_t uart;
static avr_irq_t *spi_in;
static avr_irq_t *adc0_in;
static uint8_t port_c = 0xFF;
static uint8_t spi_bytes[2];
static int spi_count;

static uint64_t now_us(void)
{
    return (uint64_t)(avr->cycle * 1000000ULL / avr->frequency);
}

static void on_port_a(avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    uint8_t a = (uint8_t)value;
    int8_t ch = -1;
    if (a & PA_EN_A) {
        ch = (int8_t)(a & 0x0FU);
    } else if (a & PA_EN_B) {
        ch = (int8_t)(16 + (a & 0x0FU));
    }
    uint64_t t = now_us();
    simboard_mux(t, ch);
    simboard_charge(t, (a & PA_CHARGE) != 0);
    bool learn = (a & PA_LEARN) != 0;
    if (learn && !simboard.learn) {
        simboard.learn_windows++;
    }
    simboard.learn = learn;
}

static void on_port_c(avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    uint8_t rising = (uint8_t)(~port_c & value);
    if (rising & 0x0FU) { /* a chip select went high: the 16-bit word is complete */
        if (spi_count == 2) {
            uint16_t word = (uint16_t)(spi_bytes[0] << 8 | spi_bytes[1]);
            if (rising & 0x01U) {
                simboard_dac(now_us(), word & 0x0FFFU);
            }
            for (int pot = 0; pot < 3; ++pot) {
                if (rising & (0x02U << pot)) {
                    simboard.pot[pot] = (uint8_t)(word & 0x1FFU);
                }
            }
        }
        spi_count = 0;
    }
    if ((port_c & 0x0FU) == 0x0FU && (value & 0x0FU) != 0x0FU) {
        spi_count = 0; /* a chip select went low: new transfer */
    }
    port_c = (uint8_t)value;
}

static void on_spi_out(avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    if (spi_count < 2) {
        spi_bytes[spi_count] = (uint8_t)value;
    }
    spi_count++;
    avr_raise_irq(spi_in, 0); /* the slave's reply byte completes the transfer (SPIF) */
}

static void on_adc_trigger(avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)value;
    (void)param;
    uint16_t counts = simboard_adc(now_us());
    /* simavr converts mV * 1023 / AREF; give the smallest mV that yields `counts` */
    uint32_t mv = (counts * (uint32_t)avr->aref + 1022U) / 1023U;
    avr_raise_irq(adc0_in, mv);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s firmware.elf\n", argv[0]);
        return 2;
    }
    elf_firmware_t fw;
    memset(&fw, 0, sizeof fw);
    if (elf_read_firmware(argv[1], &fw) != 0) {
        fprintf(stderr, "avr-board: cannot read %s\n", argv[1]);
        return 1;
    }
    if (fw.mmcu[0] == '\0' || fw.frequency == 0) {
        fprintf(stderr, "avr-board: %s has no .mmcu section (link with --undefined=_mmcu)\n",
                argv[1]);
        return 1;
    }
    avr = avr_make_mcu_by_name(fw.mmcu);
    if (avr == NULL) {
        fprintf(stderr, "avr-board: unknown MCU %s\n", fw.mmcu);
        return 1;
    }
    avr_init(avr);
    avr_load_firmware(avr, &fw);
    avr->vcc = 5000;
    avr->avcc = 5000;
    avr->aref = 4096;

    const char *initial = getenv("GATEFW_INITIAL_GATE_V");
    simboard_reset(0, initial != NULL ? atof(initial) : 1.5);

    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('A'), IOPORT_IRQ_REG_PORT),
                            on_port_a, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('C'), IOPORT_IRQ_REG_PORT),
                            on_port_c, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_SPI_GETIRQ(0), SPI_IRQ_OUTPUT),
                            on_spi_out, NULL);
    spi_in = avr_io_getirq(avr, AVR_IOCTL_SPI_GETIRQ(0), SPI_IRQ_INPUT);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_ADC_GETIRQ, ADC_IRQ_OUT_TRIGGER),
                            on_adc_trigger, NULL);
    adc0_in = avr_io_getirq(avr, AVR_IOCTL_ADC_GETIRQ, ADC_IRQ_ADC0);

    uart_pty_init(avr, &uart);
    uart_pty_connect(&uart, '0');
    const char *link = getenv("GATEFW_LINK");
    if (link != NULL && link[0] != '\0') {
        unlink(link);
        if (symlink(uart.port[0].slavename, link) != 0) {
            perror("avr-board: symlink");
            return 1;
        }
    }

    printf("PTY %s\n", uart.port[0].slavename);
    fflush(stdout);

    pid_t parent = getppid();
    for (unsigned long i = 0;; ++i) {
        int state = avr_run(avr);
        if (state == cpu_Done || state == cpu_Crashed) {
            fprintf(stderr, "avr-board: firmware stopped (state %d)\n", state);
            return 1;
        }
        if ((i & 0xFFFFUL) == 0UL && getppid() != parent) {
            return 0;
        }
    }
}
