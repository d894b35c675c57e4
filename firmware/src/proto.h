/* Line protocol (firmware/PROTOCOL.md): assembles received bytes into lines, checks the
 * checksum, dispatches the command and sends exactly one reply line per command line.
 */
#ifndef LABCTL_PROTO_H
#define LABCTL_PROTO_H

#include <stdbool.h>
#include <stdint.h>

/* XOR of the bytes s[0..n-1]: the line checksum. */
uint8_t proto_checksum(const char *s, uint16_t n);
void proto_init(void);
/* Feed one received byte. */
void proto_feed(uint8_t c);
/* True once a *RST command was answered; cleared by proto_init(). */
bool proto_reboot_requested(void);
/* Send an unsolicited boot banner line (only at power-on). */
void proto_banner(void);
/* Send one reply line (body without checksum); appends "*HH\n". */
void proto_send(const char *body);

#endif
