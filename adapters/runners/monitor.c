/* The native monitor: monitor.py's protocol at the cost of a fork and an exec.
 *
 *     qrun-monitor RUN_DIR
 *
 * The same steps, files and guarantees as monitor.py, which stays the reference (and
 * the fallback where no C compiler is found):
 *   1. monitor.json is created exactly once (O_EXCL) with this process's identity, before
 *      anything starts; if it exists, the run was given up and nothing starts.
 *   2. spec.json (argv, cwd, env, timeout_s, as the runner's json.dumps wrote it) is read.
 *   3. The command starts in a session of its own, stdout and stderr appended to files;
 *      in the forked child, before exec, the child writes child.json naming itself, so
 *      no moment exists in which the command runs unnamed.
 *   4. SIGTERM/SIGINT are forwarded to the command's group (SIGKILL after a grace), the
 *      timeout is enforced the same way, and exit.json is written atomically when the
 *      command ends, retried until it lands (a full disk delays the end, loses nothing).
 * Crash points (QRUN_TEST_CRASH_AT=POINT[:N], QRUN_TEST_CRASH_ONCE=PATH) as in
 * crashpoints.py: monitor.claimed, monitor.started, monitor.exited.
 *
 * Signals are blocked from the first instruction and taken with sigtimedwait, so a stop
 * asked at any moment is kept, never lost to a default handler.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KILL_GRACE_S 5.0

static char run_dir[4096];

static void die(const char *what) {
    fprintf(stderr, "qrun monitor: %s: %s\n", what, strerror(errno));
    exit(1);
}

static char *path_of(const char *name) {
    static char buf[4][4200];
    static int next;
    char *out = buf[next++ % 4];
    snprintf(out, sizeof buf[0], "%s/%s", run_dir, name);
    return out;
}

static double now_real(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static double now_mono(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* ---- reading a whole file --------------------------------------------------------- */
static char *slurp(const char *path, size_t *size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    size_t cap = 4096, len = 0;
    char *data = malloc(cap + 1);
    for (;;) {
        if (len == cap) data = realloc(data, (cap *= 2) + 1);
        ssize_t got = read(fd, data + len, cap - len);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        len += (size_t)got;
    }
    close(fd);
    data[len] = 0;
    if (size) *size = len;
    return data;
}

/* ---- who a process is: boot id, pid, start time (procs.py) ------------------------ */
static void identity(char *out, size_t size) {
    char *boot = slurp("/proc/sys/kernel/random/boot_id", NULL);
    if (boot) boot[strcspn(boot, "\n")] = 0;
    char *stat = slurp("/proc/self/stat", NULL);
    unsigned long long start = 0;
    if (stat) {
        char *p = strrchr(stat, ')');  /* the name may hold spaces and parentheses */
        int field = 2;
        for (p = p ? p + 1 : stat; *p && field < 22; p++)
            if (*p == ' ') field++;
        start = strtoull(p, NULL, 10);
    }
    snprintf(out, size, "%s:%d:%llu", boot && *boot ? boot : "unknown-boot", (int)getpid(), start);
    free(boot);
    free(stat);
}

/* ---- JSON out: only numbers, booleans and strings we escape ------------------------ */
/* The length of the valid UTF-8 character at `p`, or 0. */
static int utf8_length(const unsigned char *p) {
    int n = p[0] >= 0xF0 && p[0] < 0xF5 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC2 && p[0] < 0xE0 ? 2 : 0;
    for (int i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    return n;
}

/* A JSON string of `s`: a byte that is no UTF-8 becomes \udcXX, as Python's
 * surrogateescape reads it, so the file always decodes. */
static void put_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int n;
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else if (*p < 0x80) fputc(*p, f);
        else if ((n = utf8_length(p)) > 0) { fwrite(p, 1, (size_t)n, f); p += n - 1; }
        else fprintf(f, "\\udc%02x", *p);
    }
    fputc('"', f);
}

/* `text` at `name`, whole or not at all (a temporary file, then rename). */
static int write_atomic(const char *name, const char *text) {
    char tmp[4300];  /* NAME.tmp for NAME.json, as monitor.py's Path.with_suffix makes it */
    const char *dot = strrchr(name, '.');
    snprintf(tmp, sizeof tmp, "%s/%.*s.tmp", run_dir, (int)(dot ? dot - name : (long)strlen(name)), name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t put = write(fd, text + done, len - done);
        if (put < 0 && errno == EINTR) continue;
        if (put < 0) { close(fd); return -1; }
        done += (size_t)put;
    }
    if (close(fd) < 0) return -1;
    return rename(tmp, path_of(name));
}

/* exit.json, however long that takes (monitor.py's record_exit). */
static void record_exit(const char *json) {
    double delay = 0.1;
    while (write_atomic("exit.json", json) != 0) {
        fprintf(stderr, "qrun monitor: cannot record the exit yet (%s); retrying\n", strerror(errno));
        struct timespec t = {(time_t)delay, (long)((delay - (time_t)delay) * 1e9)};
        nanosleep(&t, NULL);
        delay = delay * 2 > 5.0 ? 5.0 : delay * 2;
    }
}

static void record_code(int code, const char *error, int timed_out, int killed) {
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    fprintf(f, "{\"code\": %d, \"at\": %.6f", code, now_real());
    if (error) { fputs(", \"error\": ", f); put_string(f, error); }
    if (!error) fprintf(f, ", \"timed_out\": %s", timed_out ? "true" : "false");
    if (killed) fputs(", \"killed\": true", f);
    fputs("}", f);
    fclose(f);
    record_exit(text);
    free(text);
}

/* ---- crash points (crashpoints.py) ------------------------------------------------- */
static const char *crash_point;
static long crash_left;
static const char *crash_once;

static void crash_setup(void) {
    const char *spec = getenv("QRUN_TEST_CRASH_AT");
    if (!spec || !*spec) return;
    static char point[128];
    const char *colon = strchr(spec, ':');
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
    if (n >= sizeof point) n = sizeof point - 1;
    memcpy(point, spec, n);
    point[n] = 0;
    crash_point = point;
    crash_left = colon ? strtol(colon + 1, NULL, 10) : 1;
    crash_once = getenv("QRUN_TEST_CRASH_ONCE");
}

static void crash(const char *name) {
    if (!crash_point || strcmp(name, crash_point) != 0) return;
    if (--crash_left != 0) return;
    if (crash_once && *crash_once) {
        int fd = open(crash_once, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) return;  /* another process was first */
        close(fd);
    }
    kill(getpid(), SIGKILL);
}

/* ---- spec.json in: the object json.dumps wrote ------------------------------------- */
typedef struct { const char *p; } Reader;

static void ws(Reader *r) { while (*r->p == ' ' || *r->p == '\n' || *r->p == '\t' || *r->p == '\r') r->p++; }

static int hex4(const char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

static void utf8(char **o, unsigned cp) {
    char *q = *o;
    if (cp < 0x80) *q++ = (char)cp;
    else if (cp < 0x800) { *q++ = (char)(0xC0 | cp >> 6); *q++ = (char)(0x80 | (cp & 0x3F)); }
    else if (cp < 0x10000) {
        *q++ = (char)(0xE0 | cp >> 12); *q++ = (char)(0x80 | (cp >> 6 & 0x3F)); *q++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *q++ = (char)(0xF0 | cp >> 18); *q++ = (char)(0x80 | (cp >> 12 & 0x3F));
        *q++ = (char)(0x80 | (cp >> 6 & 0x3F)); *q++ = (char)(0x80 | (cp & 0x3F));
    }
    *o = q;
}

/* A JSON string, decoded to UTF-8 (Python writes lone surrogates as \udcXX for bytes it
 * could not decode: those become the byte again, as os.fsencode would make them). */
static char *string(Reader *r) {
    ws(r);
    if (*r->p != '"') return NULL;
    r->p++;
    const char *end = r->p;  /* decoding never makes a string longer than its JSON */
    while (*end && *end != '"') end += end[0] == '\\' && end[1] ? 2 : 1;
    char *out = malloc((size_t)(end - r->p) + 1), *o = out;
    while (*r->p && *r->p != '"') {
        if (*r->p != '\\') { *o++ = *r->p++; continue; }
        r->p++;
        char c = *r->p++;
        unsigned cp;
        if (!c) { free(out); return NULL; }
        switch (c) {
        case 'n': *o++ = '\n'; break;
        case 't': *o++ = '\t'; break;
        case 'r': *o++ = '\r'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'u':
            if (hex4(r->p, &cp) != 0) { free(out); return NULL; }
            r->p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && r->p[0] == '\\' && r->p[1] == 'u') {
                unsigned lo;
                if (hex4(r->p + 2, &lo) == 0 && lo >= 0xDC00 && lo < 0xE000) {
                    r->p += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
            }
            if (cp >= 0xDC80 && cp < 0xDD00) *o++ = (char)(cp - 0xDC00);  /* surrogateescape */
            else utf8(&o, cp);
            break;
        default: *o++ = c;  /* \" \\ \/ */
        }
    }
    if (*r->p != '"') { free(out); return NULL; }
    r->p++;
    *o = 0;
    return out;
}

static int skip(Reader *r);

static int skip_container(Reader *r, char open, char close) {
    r->p++;
    ws(r);
    if (*r->p == close) { r->p++; return 0; }
    for (;;) {
        if (open == '{') { char *k = string(r); if (!k) return -1; free(k); ws(r); if (*r->p++ != ':') return -1; }
        if (skip(r) != 0) return -1;
        ws(r);
        if (*r->p == ',') { r->p++; continue; }
        if (*r->p == close) { r->p++; return 0; }
        return -1;
    }
}

static int skip(Reader *r) {
    ws(r);
    if (*r->p == '"') { char *s = string(r); if (!s) return -1; free(s); return 0; }
    if (*r->p == '{') return skip_container(r, '{', '}');
    if (*r->p == '[') return skip_container(r, '[', ']');
    const char *start = r->p;
    while (*r->p && !strchr(",}] \n\t\r", *r->p)) r->p++;
    return r->p > start ? 0 : -1;
}

static int is_null(Reader *r) {
    ws(r);
    if (strncmp(r->p, "null", 4) == 0) { r->p += 4; return 1; }
    return 0;
}

typedef struct {
    char **argv;
    char **env;  /* NULL: the monitor's own */
    char *cwd;
    double timeout_s;
} Spec;

/* A JSON array of strings (argv), or an object of strings (env, as NAME=VALUE). */
static char **strings(Reader *r, int object) {
    ws(r);
    if (*r->p != (object ? '{' : '[')) return NULL;
    r->p++;
    size_t n = 0, cap = 8;
    char **out = calloc(cap + 1, sizeof *out);
    ws(r);
    if (*r->p == (object ? '}' : ']')) { r->p++; return out; }
    for (;;) {
        char *item = string(r);
        if (!item) return NULL;
        if (object) {
            ws(r);
            if (*r->p++ != ':') return NULL;
            char *value = string(r);
            if (!value) return NULL;
            char *pair = malloc(strlen(item) + strlen(value) + 2);
            sprintf(pair, "%s=%s", item, value);
            free(item);
            free(value);
            item = pair;
        }
        if (n == cap) out = realloc(out, ((cap *= 2) + 1) * sizeof *out);
        out[n++] = item;
        out[n] = NULL;
        ws(r);
        if (*r->p == ',') { r->p++; continue; }
        if (*r->p == (object ? '}' : ']')) { r->p++; return out; }
        return NULL;
    }
}

static int read_spec(Spec *spec) {
    char *text = slurp(path_of("spec.json"), NULL);
    if (!text) return -1;
    Reader r = {text};
    memset(spec, 0, sizeof *spec);
    ws(&r);
    if (*r.p++ != '{') return -1;
    ws(&r);
    if (*r.p == '}') return spec->argv ? 0 : -1;
    for (;;) {
        char *key = string(&r);
        if (!key) return -1;
        ws(&r);
        if (*r.p++ != ':') return -1;
        if (strcmp(key, "argv") == 0) { if (!(spec->argv = strings(&r, 0))) return -1; }
        else if (strcmp(key, "env") == 0) { if (!is_null(&r) && !(spec->env = strings(&r, 1))) return -1; }
        else if (strcmp(key, "cwd") == 0) { if (!is_null(&r) && !(spec->cwd = string(&r))) return -1; }
        else if (strcmp(key, "timeout_s") == 0) {
            if (!is_null(&r)) { char *end; spec->timeout_s = strtod(r.p, &end); if (end == r.p) return -1; r.p = end; }
        } else if (skip(&r) != 0) return -1;
        free(key);
        ws(&r);
        if (*r.p == ',') { r.p++; ws(&r); continue; }
        if (*r.p == '}') break;
        return -1;
    }
    return spec->argv && spec->argv[0] ? 0 : -1;
}

/* ---- starting the command ---------------------------------------------------------- */
static const char *env_get(char **env, const char *name) {
    size_t n = strlen(name);
    for (char **e = env; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
    return NULL;
}

/* exec `argv` as Python's subprocess does: PATH searched in the command's own env
 * (os.get_exec_path), "/bin:/usr/bin" without one. Returns only on failure. */
static void exec_command(char **argv, char **env) {
    if (strchr(argv[0], '/')) { execve(argv[0], argv, env); return; }
    const char *path = env_get(env, "PATH");
    if (!path) path = "/bin:/usr/bin";
    int first_error = 0;
    char full[4200];
    for (const char *p = path;; p = strchr(p, ':') + 1) {
        size_t n = strcspn(p, ":");
        snprintf(full, sizeof full, "%.*s%s%s", (int)n, p, n ? "/" : "", argv[0]);
        execve(full, argv, env);
        if (errno != ENOENT && errno != ENOTDIR && !first_error) first_error = errno;
        if (!strchr(p, ':')) break;
    }
    if (first_error) errno = first_error;
}

/* In the child: name itself in child.json, then become the command. Any failure is
 * sent up the pipe as "errno step" and the child ends unstarted. */
static void child(const Spec *spec, int out, int err, int report, const sigset_t *old) {
    int devnull = open("/dev/null", O_RDONLY);
    const char *step = "open /dev/null";
    if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) goto failed;
    step = "chdir";
    if (spec->cwd && chdir(spec->cwd) != 0) goto failed;
    setsid();  /* its own group: a kill reaches its children too */
    step = "record";
    char me[256], json[300];
    identity(me, sizeof me);
    snprintf(json, sizeof json, "{\"ref\": \"%s\"}", me);
    if (write_atomic("child.json", json) != 0) goto failed;
    if (devnull > 2) close(devnull);
    /* Nothing else of ours may reach the command: every fd we opened is close-on-exec,
     * and the daemon started us with none but 0-2; close_range makes sure of it. */
#ifdef SYS_close_range
    if (report > 3) syscall(SYS_close_range, 3, (unsigned)report - 1, 0);
    syscall(SYS_close_range, (unsigned)report + 1, ~0U, 0);
#endif
    sigprocmask(SIG_SETMASK, old, NULL);
    step = "exec";
    exec_command(spec->argv, spec->env ? spec->env : environ);
failed:;
    char msg[64];
    int n = snprintf(msg, sizeof msg, "%d %s", errno, step);
    if (write(report, msg, (size_t)n) < 0) { /* nothing more to tell */ }
    _exit(127);
}

static pid_t start(const Spec *spec, const sigset_t *old) {
    int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC;
    int out = open(path_of("stdout"), flags, 0600), err = open(path_of("stderr"), flags, 0600);
    int pipe_fds[2];
    if (out < 0 || err < 0 || pipe2(pipe_fds, O_CLOEXEC) != 0) {
        char why[300];
        snprintf(why, sizeof why, "could not start: %s", strerror(errno));
        record_code(127, why, 0, 0);
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) child(spec, out, err, pipe_fds[1], old);
    close(pipe_fds[1]);
    close(out);
    close(err);
    if (pid < 0) {
        char why[300];
        snprintf(why, sizeof why, "could not start: fork: %s", strerror(errno));
        record_code(127, why, 0, 0);
        return -1;
    }
    char msg[64] = {0};
    ssize_t got;
    while ((got = read(pipe_fds[0], msg, sizeof msg - 1)) < 0 && errno == EINTR) {}
    close(pipe_fds[0]);
    if (got > 0) {  /* it never became the command */
        int code = atoi(msg);
        const char *step = strchr(msg, ' ') ? strchr(msg, ' ') + 1 : "exec";
        char why[4500];
        if (strcmp(step, "exec") == 0)
            snprintf(why, sizeof why, "could not start: [Errno %d] %s: '%s'", code, strerror(code), spec->argv[0]);
        else if (strcmp(step, "chdir") == 0)
            snprintf(why, sizeof why, "could not start: [Errno %d] %s: '%s'", code, strerror(code), spec->cwd);
        else
            snprintf(why, sizeof why, "could not start: %s: %s", step, strerror(code));
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
        record_code(127, why, 0, 0);
        return -1;
    }
    return pid;
}

int main(int argc, char **argv) {
    sigset_t watched, old;
    sigemptyset(&watched);
    sigaddset(&watched, SIGTERM);
    sigaddset(&watched, SIGINT);
    sigaddset(&watched, SIGCHLD);
    sigprocmask(SIG_BLOCK, &watched, &old);
    signal(SIGCHLD, SIG_DFL);  /* never auto-reaped: its status is the run's exit */
    if (argc != 2) { fprintf(stderr, "usage: qrun-monitor RUN_DIR\n"); return 2; }
    snprintf(run_dir, sizeof run_dir, "%s", argv[1]);

    /* 1. Claim the run before anything starts. */
    char me[256], json[300];
    identity(me, sizeof me);
    snprintf(json, sizeof json, "{\"ref\": \"%s\"}", me);
    int fd = open(path_of("monitor.json"), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST) return 0;  /* given up meanwhile: start nothing */
        die("cannot create monitor.json");
    }
    if (write(fd, json, strlen(json)) < 0) die("cannot write monitor.json");
    close(fd);
    crash_setup();
    Spec spec;
    if (read_spec(&spec) != 0) { errno = EINVAL; die("cannot read spec.json"); }
    crash("monitor.claimed");

    /* A stop asked for meanwhile is kept: nothing starts. */
    sigset_t stops;
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    struct timespec zero = {0, 0};
    int asked = sigtimedwait(&stops, NULL, &zero);
    if (asked > 0) { record_code(-asked, NULL, 0, 1); return 0; }

    pid_t pid = start(&spec, &old);
    if (pid < 0) return 0;
    crash("monitor.started");

    double deadline = spec.timeout_s > 0 ? now_mono() + spec.timeout_s : -1;
    double term_sent_at = -1;
    int stopping = 0, timed_out = 0, status = 0;
    for (;;) {
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid) break;
        if (done < 0 && errno != EINTR) { status = -1; break; }  /* lost: recorded as -1 */
        double now = now_mono(), wait_s = 3600;
        if (deadline >= 0 && !timed_out) {
            if (now >= deadline) { timed_out = 1; kill(-pid, SIGTERM); term_sent_at = now; }
            else wait_s = deadline - now;
        }
        if (term_sent_at >= 0) {
            double left = term_sent_at + KILL_GRACE_S - now;
            if (left <= 0) { kill(-pid, SIGKILL); left = 3600; }
            if (left < wait_s) wait_s = left;
        }
        struct timespec t = {(time_t)wait_s, (long)((wait_s - (time_t)wait_s) * 1e9)};
        int sig = sigtimedwait(&watched, NULL, &t);
        if (sig == SIGTERM || sig == SIGINT) {
            stopping = sig;
            kill(-pid, SIGTERM);
            if (term_sent_at < 0) term_sent_at = now_mono();
        }
    }
    crash("monitor.exited");
    int code = status == -1       ? -1
               : WIFEXITED(status)   ? WEXITSTATUS(status)
               : WIFSIGNALED(status) ? -WTERMSIG(status)
                                     : -1;
    record_code(code, NULL, timed_out, stopping != 0);
    return 0;
}
