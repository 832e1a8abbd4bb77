/* holder: fork N processes that each hold K connected TCP sockets to
 * ADDR:PORT (IPv4) and sleep until killed. Used by bwbench's process-scale
 * scenario: forked children share their pages, so 5,000 of them fit in a
 * few hundred MB. Usage: holder ADDR PORT N K */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc != 5) {
		fprintf(stderr, "usage: holder ADDR PORT N K\n");
		return 2;
	}
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
	inet_pton(AF_INET, argv[1], &sa.sin_addr);
	int n = atoi(argv[3]), k = atoi(argv[4]);
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0) { perror("fork"); return 1; }
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			for (int j = 0; j < k; j++) {
				int s = socket(AF_INET, SOCK_STREAM, 0);
				if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("connect"); _exit(1); }
			}
			for (;;) pause();
		}
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) pause();
}
