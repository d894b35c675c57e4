/* Firmware main loop, shared by every build: boot into the safe state, announce the boot,
 * then feed received bytes to the protocol and run the watchdog between them.  A "*RST"
 * command ends the loop; the HAL then restarts the firmware (AVR: watchdog reset).
 */
#include "ctl.h"
#include "hal.h"
#include "proto.h"

int main(void)
{
    hal_init();
    for (;;) {
        ctl_init();
        proto_init();
        proto_banner();
        while (!proto_reboot_requested()) {
            int c = hal_uart_getc();
            if (c >= 0) {
                proto_feed((uint8_t)c);
            } else {
                ctl_poll();
                hal_idle();
            }
            ctl_poll();
        }
        hal_reboot();
    }
}
