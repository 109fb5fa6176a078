/* fault.c — crash points (see fault.h). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault.h"
#include "log.h"

#define MAX_POINTS 8

struct point {
	char name[64];
	long remaining;
};

int cairn_crash_armed;
static struct point points[MAX_POINTS];
static int npoints;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void cairn_crash_init(void)
{
	const char *spec = getenv("CAIRN_CRASH");
	if (!spec || !*spec)
		return;
	char *copy = strdup(spec), *save = NULL;
	if (!copy)
		return;
	for (char *tok = strtok_r(copy, ",", &save); tok && npoints < MAX_POINTS;
	     tok = strtok_r(NULL, ",", &save)) {
		char *colon = strrchr(tok, ':');
		long n = colon ? strtol(colon + 1, NULL, 10) : 1;
		if (colon)
			*colon = '\0';
		if (n < 1 || strlen(tok) >= sizeof(points[0].name))
			continue;
		snprintf(points[npoints].name, sizeof(points[npoints].name), "%s", tok);
		points[npoints].remaining = n;
		npoints++;
	}
	free(copy);
	cairn_crash_armed = npoints > 0;
	if (cairn_crash_armed)
		log_warn("fault", "crash points armed: %s", spec);
}

void cairn_crash_check(const char *name)
{
	int die = 0;
	pthread_mutex_lock(&lock);
	for (int i = 0; i < npoints; i++)
		if (strcmp(points[i].name, name) == 0 && --points[i].remaining == 0)
			die = 1;
	pthread_mutex_unlock(&lock);
	if (die) {
		static const char msg[] = "crash point reached: SIGKILL\n";
		(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
		kill(getpid(), SIGKILL);
		_exit(137);
	}
}
