/* Host HAL: the UART is a pseudo-terminal (posix_openpt), the peripherals are the
 * simulated board, time is CLOCK_MONOTONIC.  Prints "PTY <slave path>" on stdout at start.
 * Exits when its parent process goes away so no orphaned emulator survives a test run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "hal.h"
#include "simboard.h"

static int master_fd = -1;
static int slave_fd = -1;
static uint64_t t0_us;
static uint64_t window_end_us;
static pid_t parent_pid;
static unsigned char rx_buf[256];
static size_t rx_len;
static size_t rx_pos;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL - t0_us;
}

static void die(const char *what)
{
    fprintf(stderr, "gatefw-host: %s: %s\n", what, strerror(errno));
    exit(1);
}

void hal_init(void)
{
    t0_us = 0;
    t0_us = now_us();
    parent_pid = getppid();
    master_fd = posix_openpt(O_RDWR | O_NOCTTY);
    if (master_fd < 0 || grantpt(master_fd) != 0 || unlockpt(master_fd) != 0) {
        die("posix_openpt");
    }
    const char *name = ptsname(master_fd);
    if (name == NULL) {
        die("ptsname");
    }
    /* Keep the slave open ourselves, raw, so clients can come and go without hang-ups
       and nothing is echoed back to the firmware. */
    slave_fd = open(name, O_RDWR | O_NOCTTY);
    if (slave_fd < 0) {
        die("open slave");
    }
    struct termios tio;
    if (tcgetattr(slave_fd, &tio) != 0) {
        die("tcgetattr");
    }
    cfmakeraw(&tio);
    cfsetspeed(&tio, B115200);
    tcsetattr(slave_fd, TCSANOW, &tio);
    const char *initial = getenv("GATEFW_INITIAL_GATE_V");
    simboard_reset(now_us(), initial != NULL ? atof(initial) : 1.5);
    const char *link = getenv("GATEFW_LINK");
    if (link != NULL && link[0] != '\0') {
        unlink(link);
        if (symlink(name, link) != 0) {
            die("symlink");
        }
    }
    printf("PTY %s\n", name);
    fflush(stdout);
}

uint32_t hal_millis(void) { return (uint32_t)(now_us() / 1000ULL); }

static void sleep_us(uint64_t us)
{
    struct timespec ts = {(time_t)(us / 1000000ULL), (long)(us % 1000000ULL) * 1000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void hal_delay_ms(uint16_t ms) { sleep_us((uint64_t)ms * 1000ULL); }

void hal_idle(void)
{
    if (getppid() != parent_pid) {
        exit(0);
    }
    int timeout_ms = 1;
    if (hal_learn_window_busy()) {
        uint64_t left = window_end_us - now_us();
        if (left < 1000ULL) {
            sleep_us(left);
            return;
        }
    }
    struct pollfd p = {master_fd, POLLIN, 0};
    poll(&p, 1, timeout_ms);
}

void hal_wdt_kick(void) {}

void hal_reboot(void)
{
    /* uptime restarts; the simulated capacitors keep their charge like real ones */
    t0_us += now_us();
    window_end_us = 0;
    simboard.learn = false;
}

bool hal_reset_was_watchdog(void) { return false; }

int hal_uart_getc(void)
{
    if (rx_pos < rx_len) {
        return rx_buf[rx_pos++];
    }
    struct pollfd p = {master_fd, POLLIN, 0};
    if (poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN)) {
        return -1;
    }
    ssize_t n = read(master_fd, rx_buf, sizeof rx_buf);
    if (n <= 0) {
        return -1;
    }
    rx_len = (size_t)n;
    rx_pos = 1;
    return rx_buf[0];
}

void hal_uart_write(const char *s, uint16_t n)
{
    while (n > 0U) {
        ssize_t w = write(master_fd, s, n);
        if (w < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            die("write");
        }
        s += w;
        n = (uint16_t)(n - (uint16_t)w);
    }
}

void hal_dac_write(uint16_t code) { simboard_dac(now_us(), code); }
void hal_mux_select(int8_t channel) { simboard_mux(now_us(), channel); }
void hal_charge(bool on) { simboard_charge(now_us(), on); }
uint16_t hal_adc_read(void) { return simboard_adc(now_us()); }
void hal_pot_write(uint8_t pot, uint8_t code) { if (pot < 3U) simboard.pot[pot] = code; }
void hal_learn(bool on) { simboard.learn = on; }

void hal_learn_window_start(uint16_t us)
{
    simboard.learn = true;
    simboard.learn_windows++;
    window_end_us = now_us() + us;
}

bool hal_learn_window_busy(void)
{
    if (window_end_us != 0U && now_us() >= window_end_us) {
        window_end_us = 0;
        simboard.learn = false;
    }
    return window_end_us != 0U;
}
