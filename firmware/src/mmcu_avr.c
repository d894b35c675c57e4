/* simavr metadata (.mmcu section, stripped from the HEX for real boards): MCU name and clock,
 * so simavr runs the ELF as an ATmega2560 at 16 MHz without extra options. */
#include <avr/io.h>

#include "avr/avr_mcu_section.h"

AVR_MCU(F_CPU, "atmega2560");
