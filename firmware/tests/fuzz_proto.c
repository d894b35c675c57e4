/* libFuzzer target: arbitrary byte streams into the protocol parser (test HAL). */
#include <stddef.h>
#include <stdint.h>

#include "../src/ctl.h"
#include "../src/hal_test.h"
#include "../src/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hal_test_reset(size > 0 && data[0] == 0x57);
    ctl_init();
    proto_init();
    for (size_t i = 0; i < size; ++i) {
        proto_feed(data[i]);
        if (proto_reboot_requested()) {
            hal_reboot();
            ctl_init();
            proto_init();
        }
        if ((i & 63U) == 0U) {
            hal_test_advance_ms(data[i]);
            ctl_poll();
        }
    }
    ctl_poll();
    return 0;
}
