/* Test-only controls of the in-memory HAL (hal_test.c). */
#ifndef LABCTL_HAL_TEST_H
#define LABCTL_HAL_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hal.h"

void hal_test_reset(bool watchdog_reset);
void hal_test_advance_ms(uint32_t ms);
void hal_test_input(const uint8_t *data, size_t n);
const char *hal_test_output(size_t *n);
void hal_test_clear_output(void);

#endif
