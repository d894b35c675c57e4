/* ATmega2560 HAL (16 MHz, avr-libc, no Arduino core).  Pins and parts: firmware/README.md.
 *
 * UART0 115200 Bd, RX interrupt into a ring buffer, polled TX; Timer0 1 kHz tick for
 * hal_millis; Timer1 one-shot (0.5 us ticks) times the learning window; the CPU sleeps
 * (idle mode) whenever there is nothing to do; the hardware watchdog (250 ms) resets a hung
 * firmware, which then boots into the safe state.
 */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>
#include <avr/wdt.h>
#include <util/atomic.h>
#include <util/delay.h>

#include "config.h"
#include "hal.h"

/* PORTA: mux address, mux enables, charge switch, learning switch */
#define MUX_ADDR_MASK 0x0FU
#define MUX_EN_A (1U << PA4)
#define MUX_EN_B (1U << PA5)
#define CHARGE_SW (1U << PA6)
#define LEARN_SW (1U << PA7)
/* PORTC: SPI chip selects (active low) */
#define CS_DAC (1U << PC0)
#define CS_POT_ETA (1U << PC1)
#define CS_POT_GF (1U << PC2)
#define CS_POT_GC (1U << PC3)
#define CS_ALL (CS_DAC | CS_POT_ETA | CS_POT_GF | CS_POT_GC)

#define RX_SIZE 256U

static volatile uint8_t rx_buf[RX_SIZE];
static volatile uint8_t rx_head;
static volatile uint8_t rx_tail;
static volatile uint32_t ms_ticks;
static volatile bool window_busy;
static uint8_t reset_flags __attribute__((section(".noinit")));
/* set just before a commanded reboot, so that reset is not reported as a fault */
static uint16_t reboot_magic __attribute__((section(".noinit")));
static bool commanded_reboot;
#define REBOOT_MAGIC 0xB007U

/* Runs before main: keep the reset cause and stop a watchdog left running by a reset. */
void early_init(void) __attribute__((naked, used, section(".init3")));
void early_init(void)
{
    reset_flags = MCUSR;
    MCUSR = 0;
    wdt_disable();
}

ISR(USART0_RX_vect)
{
    uint8_t c = UDR0;
    uint8_t next = (uint8_t)(rx_head + 1U);
    if (next != rx_tail) { /* full: drop (the line then fails its checksum) */
        rx_buf[rx_head] = c;
        rx_head = next;
    }
}

ISR(TIMER0_COMPA_vect) { ms_ticks++; }

ISR(TIMER1_COMPA_vect)
{
    PORTA &= (uint8_t)~LEARN_SW;
    TCCR1B = 0;
    TIMSK1 = 0;
    window_busy = false;
}

void hal_init(void)
{
    commanded_reboot = (reboot_magic == REBOOT_MAGIC);
    reboot_magic = 0;
    /* safe pin levels first: switches open, muxes disabled, chip selects high */
    PORTA = 0;
    DDRA = 0xFF;
    PORTC = CS_ALL;
    DDRC = CS_ALL;
    /* SPI master, mode 0, f/16 = 1 MHz; SS (PB0) must be an output */
    PORTB |= (1U << PB0);
    DDRB |= (1U << PB0) | (1U << PB1) | (1U << PB2);
    SPCR = (1U << SPE) | (1U << MSTR) | (1U << SPR0);
    /* ADC0 on PF0, external AREF (4.096 V), 125 kHz ADC clock */
    DIDR0 = 1U;
    ADMUX = 0;
    ADCSRB = 0;
    ADCSRA = (1U << ADEN) | (1U << ADPS2) | (1U << ADPS1) | (1U << ADPS0);
    /* UART0 115200 Bd 8N1: U2X before UBRR (TOOLCHAIN.md), UBRR = 16 -> 117.6 kBd */
    UCSR0A = (1U << U2X0);
    UBRR0 = 16U;
    UCSR0C = (1U << UCSZ01) | (1U << UCSZ00);
    UCSR0B = (1U << RXEN0) | (1U << TXEN0) | (1U << RXCIE0);
    /* Timer0: CTC, /64, 250 counts -> 1 kHz */
    TCCR0A = (1U << WGM01);
    OCR0A = 249U;
    TIMSK0 = (1U << OCIE0A);
    TCCR0B = (1U << CS01) | (1U << CS00);
    SMCR = 0; /* sleep mode: idle (timers and UART keep running) */
    wdt_enable(WDTO_250MS);
    sei();
}

uint32_t hal_millis(void)
{
    uint32_t t;
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE) { t = ms_ticks; }
    return t;
}

static void sleep_until_interrupt(void)
{
    cli();
    sleep_enable();
    sei();
    sleep_cpu();
    sleep_disable();
}

void hal_delay_ms(uint16_t ms)
{
    uint32_t start = hal_millis();
    /* ms + 1 tick boundaries guarantee at least ms whatever the tick phase */
    while ((uint32_t)(hal_millis() - start) <= ms) {
        wdt_reset();
        sleep_until_interrupt();
    }
}

void hal_idle(void)
{
    wdt_reset();
    cli();
    if (rx_head == rx_tail) {
        sleep_enable();
        sei();
        sleep_cpu();
        sleep_disable();
    }
    sei();
}

void hal_wdt_kick(void) { wdt_reset(); }

bool hal_reset_was_watchdog(void)
{
    return !commanded_reboot && (reset_flags & (1U << WDRF)) != 0U;
}

void hal_reboot(void)
{
    _delay_ms(1); /* at most two bytes are still in the UART: 0.2 ms at 115200 Bd */
    cli();
    reboot_magic = REBOOT_MAGIC;
    wdt_enable(WDTO_15MS);
    for (;;) {
    }
}

int hal_uart_getc(void)
{
    int c = -1;
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE)
    {
        if (rx_head != rx_tail) {
            c = rx_buf[rx_tail];
            rx_tail = (uint8_t)(rx_tail + 1U);
        }
    }
    return c;
}

void hal_uart_write(const char *s, uint16_t n)
{
    for (uint16_t i = 0; i < n; ++i) {
        while (!(UCSR0A & (1U << UDRE0))) {
        }
        UDR0 = (uint8_t)s[i];
    }
}

static uint8_t spi_xfer(uint8_t b)
{
    SPDR = b;
    while (!(SPSR & (1U << SPIF))) {
    }
    return SPDR;
}

static void spi_write16(uint8_t cs_mask, uint16_t word)
{
    PORTC &= (uint8_t)~cs_mask;
    spi_xfer((uint8_t)(word >> 8));
    spi_xfer((uint8_t)word);
    PORTC |= cs_mask;
}

void hal_dac_write(uint16_t code)
{
    /* MCP4921: channel A, buffered Vref, gain 1x, active, 12 data bits */
    spi_write16(CS_DAC, (uint16_t)(0x7000U | (code & 0x0FFFU)));
}

void hal_mux_select(int8_t channel)
{
    uint8_t a = PORTA & (uint8_t)~(MUX_EN_A | MUX_EN_B); /* break before make */
    PORTA = a;
    if (channel < 0 || channel >= N_GATES) {
        return;
    }
    a = (uint8_t)((a & (uint8_t)~MUX_ADDR_MASK) | ((uint8_t)channel & MUX_ADDR_MASK));
    PORTA = a;
    PORTA = (uint8_t)(a | (channel < 16 ? MUX_EN_A : MUX_EN_B));
}

void hal_charge(bool on)
{
    if (on) {
        PORTA |= CHARGE_SW;
    } else {
        PORTA &= (uint8_t)~CHARGE_SW;
    }
}

uint16_t hal_adc_read(void)
{
    ADCSRA |= (1U << ADSC);
    while (ADCSRA & (1U << ADSC)) {
    }
    return ADC;
}

void hal_pot_write(uint8_t pot, uint8_t code)
{
    static const uint8_t cs[3] = {CS_POT_ETA, CS_POT_GF, CS_POT_GC};
    if (pot < 3U && code <= POT_MAX) {
        /* MCP4131: address 0 (wiper 0), command 00 (write), 9-bit data */
        spi_write16(cs[pot], code);
    }
}

void hal_learn(bool on)
{
    if (on) {
        PORTA |= LEARN_SW;
    } else {
        PORTA &= (uint8_t)~LEARN_SW;
    }
}

void hal_learn_window_start(uint16_t us)
{
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE)
    {
        TCCR1A = 0;
        TCCR1B = 0;
        TCNT1 = 0;
        OCR1A = (uint16_t)(us * 2U); /* 0.5 us per count at /8 */
        TIFR1 = (1U << OCF1A);
        TIMSK1 = (1U << OCIE1A);
        window_busy = true;
        PORTA |= LEARN_SW;
        TCCR1B = (1U << WGM12) | (1U << CS11);
    }
}

bool hal_learn_window_busy(void) { return window_busy; }
