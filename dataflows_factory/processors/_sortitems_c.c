/* Sort items in C: the encoding and decoding of ``_sortitems`` for the common shapes.

   An item is ``key + row number ("%08x") + NUL NUL + payload``: the key's UTF-8 bytes with NUL
   escaped as NUL 1, the payload the marshalled tuple ``(shape, *values)`` (version 4), with
   Decimals as their ``str`` and dates as their ordinal. These functions build exactly what the
   generated Python code of ``_sortitems`` builds for a shape of plain values (str, int, float,
   bool, None, bytes), Decimals and dates, with a key of plain ``{field}`` terms whose values
   are str, int, float, bool or Decimal.

   Each function handles a whole block or returns None: a row of another shape or of more than
   256 fields, a value of another kind, a key value it does not encode (a str with surrogates,
   a number too large for a float, another type), any error but running out of memory, and the
   Python code does the block instead (and raises its own errors). So this module decides
   nothing: it is the Python path, faster. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <marshal.h>
#include <datetime.h>
#include <limits.h>
#include <string.h>

#if PY_VERSION_HEX < 0x030D0000
#define new_row(count) _PyDict_NewPresized(count)
#else
#define new_row(count) PyDict_New()
#endif

/* Rows of more fields, and keys of more terms, are left to Python. */
#define MAX_FIELDS 256

static PyObject *decimal_type;   /* decimal.Decimal */

/* A growable byte buffer for one item's key. */
typedef struct {
    char *data;
    Py_ssize_t size, capacity;
    char small[256];
} Buffer;

static void buffer_init(Buffer *b) { b->data = b->small; b->size = 0; b->capacity = sizeof(b->small); }
static void buffer_free(Buffer *b) { if (b->data != b->small) PyMem_Free(b->data); }

static int buffer_reserve(Buffer *b, Py_ssize_t more) {
    if (b->size + more <= b->capacity) return 0;
    Py_ssize_t capacity = (b->size + more) * 2;
    char *data = PyMem_Malloc(capacity);
    if (data == NULL) { PyErr_NoMemory(); return -1; }
    memcpy(data, b->data, b->size);
    if (b->data != b->small) PyMem_Free(b->data);
    b->data = data;
    b->capacity = capacity;
    return 0;
}

/* The UTF-8 of a str, NUL escaped as NUL 1. */
static int append_text(Buffer *b, PyObject *text) {
    Py_ssize_t size;
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, &size);  /* fails on surrogates */
    if (utf8 == NULL) return -1;
    if (buffer_reserve(b, size * 2) < 0) return -1;
    const char *nul = memchr(utf8, 0, size);
    if (nul == NULL) {
        memcpy(b->data + b->size, utf8, size);
        b->size += size;
        return 0;
    }
    for (Py_ssize_t i = 0; i < size; i++) {
        b->data[b->size++] = utf8[i];
        if (utf8[i] == 0) b->data[b->size++] = 1;
    }
    return 0;
}

/* dataflows' number key: the big-endian double of -v (v >= 0), or of v with every bit
   inverted (v < 0), as 16 lowercase hex digits. */
static int append_number(Buffer *b, double value, int negative) {
    static const char hex[] = "0123456789abcdef";
    union { double d; uint64_t u; } bits;
    bits.d = negative ? value : -value;
    uint64_t u = negative ? ~bits.u : bits.u;
    if (buffer_reserve(b, 16) < 0) return -1;
    for (int i = 15; i >= 0; i--) {
        b->data[b->size + i] = hex[u & 15];
        u >>= 4;
    }
    b->size += 16;
    return 0;
}

/* The key term of one value, as the generated Python code makes it; 1 if this value is
   left to Python (no error set), -1 on an error. */
static int append_key(Buffer *b, PyObject *value) {
    if (PyUnicode_CheckExact(value)) {
        if (append_text(b, value) < 0) { PyErr_Clear(); return 1; }
        return 0;
    }
    double number;
    int negative;
    if (PyFloat_CheckExact(value)) {
        number = PyFloat_AS_DOUBLE(value);
        negative = number < 0;
    } else if (PyLong_CheckExact(value) || PyBool_Check(value)) {
        number = PyLong_AsDouble(value);
        if (number == -1.0 && PyErr_Occurred()) { PyErr_Clear(); return 1; }  /* too large */
        negative = number < 0;
    } else if (Py_IS_TYPE(value, (PyTypeObject *)decimal_type)) {
        PyObject *as_float = PyNumber_Float(value);
        if (as_float == NULL) { PyErr_Clear(); return 1; }
        number = PyFloat_AS_DOUBLE(as_float);
        Py_DECREF(as_float);
        PyObject *zero = PyLong_FromLong(0);
        if (zero == NULL) return -1;
        negative = PyObject_RichCompareBool(value, zero, Py_LT);  /* -1e-400 < 0, float -0.0 */
        Py_DECREF(zero);
        if (negative < 0) { PyErr_Clear(); return 1; }  /* NaN */
    } else {
        return 1;
    }
    return append_number(b, number, negative);
}

static const int days_before_month[] = {0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};

static long ordinal(PyObject *day) {
    long y = PyDateTime_GET_YEAR(day), m = PyDateTime_GET_MONTH(day), d = PyDateTime_GET_DAY(day);
    int leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    long before = y - 1;
    return before * 365 + before / 4 - before / 100 + before / 400 + days_before_month[m]
           + (m > 2 && leap) + d;
}

/* The date of a proleptic Gregorian ordinal (1 is 0001-01-01), as date.fromordinal makes
   it; NULL and no error outside date's range (Python's fromordinal then raises). */
static PyObject *from_ordinal(PyObject *value) {
    if (!PyLong_CheckExact(value)) return NULL;
    long n = PyLong_AsLong(value);
    if (n < 1 || n > 3652059) { PyErr_Clear(); return NULL; }  /* date.max.toordinal() */
    n -= 1;
    long n400 = n / 146097; n %= 146097;
    long n100 = n / 36524; n %= 36524;
    long n4 = n / 1461; n %= 1461;
    long n1 = n / 365; n %= 365;
    long year = n400 * 400 + n100 * 100 + n4 * 4 + n1 + 1;
    if (n1 == 4 || n100 == 4) return PyDate_FromDate(year - 1, 12, 31);
    int leap = n1 == 3 && (n4 != 24 || n100 == 3);
    long month = (n + 50) >> 5;
    long preceding = days_before_month[month] + (month > 2 && leap);
    if (preceding > n) {
        month -= 1;
        preceding = days_before_month[month] + (month > 2 && leap);
    }
    return PyDate_FromDate(year, month, n - preceding + 1);
}

/* The payload value of ``value`` of kind ``kind`` (new reference), NULL and no error when
   the value is not of that kind, NULL and an error on an error. */
static PyObject *payload_value(PyObject *value, char kind) {
    if (kind == 'p') {
        PyTypeObject *type = Py_TYPE(value);
        if (type == &PyUnicode_Type || type == &PyLong_Type || type == &PyFloat_Type ||
                type == &PyBool_Type || value == Py_None || type == &PyBytes_Type)
            return Py_NewRef(value);
        return NULL;
    }
    if (value == Py_None) return Py_NewRef(value);
    if (kind == 'd') {
        if (!Py_IS_TYPE(value, (PyTypeObject *)decimal_type)) return NULL;
        return PyObject_Str(value);
    }
    if (kind == 't') {
        if (!PyDate_CheckExact(value)) return NULL;
        return PyLong_FromLong(ordinal(value));
    }
    return NULL;
}

/* encode_block(rows, start, names, kinds, key, number) -> list[bytes] | None

   ``names`` the shape's field names (a tuple), ``kinds`` one byte per field (b"p" plain,
   b"d" Decimal, b"t" date), ``key`` the indexes of the key's fields in ``names``, ``number``
   the shape's number; ``start`` the first row's number. */
static PyObject *encode_block(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "encode_block takes 6 arguments");
        return NULL;
    }
    PyObject *rows = args[0], *names = args[2], *kinds = args[3], *key = args[4], *number = args[5];
    if (!PyList_CheckExact(rows) || !PyTuple_CheckExact(names) || !PyBytes_CheckExact(kinds) ||
            !PyTuple_CheckExact(key) || !PyLong_CheckExact(number)) {
        PyErr_SetString(PyExc_TypeError, "encode_block: list, int, tuple, bytes, tuple, int");
        return NULL;
    }
    unsigned long long start = PyLong_AsUnsignedLongLong(args[1]);  /* a negative one: Python's */
    if (start == (unsigned long long)-1 && PyErr_Occurred()) { PyErr_Clear(); Py_RETURN_NONE; }
    Py_ssize_t count = PyTuple_GET_SIZE(names), rows_count = PyList_GET_SIZE(rows);
    if (start > ULLONG_MAX - (unsigned long long)rows_count) Py_RETURN_NONE;
    Py_ssize_t key_count = PyTuple_GET_SIZE(key);
    const char *kind = PyBytes_AS_STRING(kinds);
    if (PyBytes_GET_SIZE(kinds) != count) {
        PyErr_SetString(PyExc_ValueError, "encode_block: one kind per name");
        return NULL;
    }
    if (count > MAX_FIELDS || key_count > MAX_FIELDS) Py_RETURN_NONE;
    Py_ssize_t key_index[MAX_FIELDS];
    for (Py_ssize_t k = 0; k < key_count; k++) {
        key_index[k] = PyLong_AsSsize_t(PyTuple_GET_ITEM(key, k));
        if (key_index[k] < 0 || key_index[k] >= count) {
            if (PyErr_Occurred()) return NULL;
            PyErr_SetString(PyExc_ValueError, "encode_block: a key index out of range");
            return NULL;
        }
    }
    PyObject *items = PyList_New(rows_count);
    if (items == NULL) return NULL;
    PyObject *values[MAX_FIELDS];
    Buffer buffer;
    buffer_init(&buffer);
    for (Py_ssize_t r = 0; r < rows_count; r++) {
        PyObject *row = PyList_GET_ITEM(rows, r);
        if (!PyDict_CheckExact(row) || PyDict_GET_SIZE(row) != count) goto other;
        Py_ssize_t position = 0, i = 0;
        PyObject *name, *value;
        while (PyDict_Next(row, &position, &name, &value)) {
            PyObject *expected = PyTuple_GET_ITEM(names, i);
            /* str keys only: comparing anything else could run code that changes the row */
            if (name != expected && (!PyUnicode_CheckExact(name) || PyUnicode_Compare(name, expected) != 0)) {
                PyErr_Clear();
                goto other;
            }
            values[i++] = value;
        }
        buffer.size = 0;
        for (Py_ssize_t k = 0; k < key_count; k++) {
            int done = append_key(&buffer, values[key_index[k]]);
            if (done < 0) goto error;
            if (done > 0) goto other;
        }
        char suffix[32];
        int suffix_size = snprintf(suffix, sizeof(suffix), "%08llx", start + (unsigned long long)r);
        PyObject *payload = PyTuple_New(count + 1);
        if (payload == NULL) goto error;
        PyTuple_SET_ITEM(payload, 0, Py_NewRef(number));
        for (Py_ssize_t f = 0; f < count; f++) {
            PyObject *encoded = payload_value(values[f], kind[f]);
            if (encoded == NULL) {
                Py_DECREF(payload);
                if (PyErr_Occurred()) goto error;
                goto other;
            }
            PyTuple_SET_ITEM(payload, f + 1, encoded);
        }
        PyObject *marshalled = PyMarshal_WriteObjectToString(payload, 4);
        Py_DECREF(payload);
        if (marshalled == NULL) goto error;
        Py_ssize_t head = buffer.size + suffix_size + 2, size = PyBytes_GET_SIZE(marshalled);
        PyObject *item = PyBytes_FromStringAndSize(NULL, head + size);
        if (item == NULL) { Py_DECREF(marshalled); goto error; }
        char *out = PyBytes_AS_STRING(item);
        memcpy(out, buffer.data, buffer.size);
        memcpy(out + buffer.size, suffix, suffix_size);
        out[head - 2] = 0;
        out[head - 1] = 0;
        memcpy(out + head, PyBytes_AS_STRING(marshalled), size);
        Py_DECREF(marshalled);
        PyList_SET_ITEM(items, r, item);
    }
    buffer_free(&buffer);
    return items;
other:
    buffer_free(&buffer);
    Py_DECREF(items);
    Py_RETURN_NONE;
error:
    buffer_free(&buffer);
    Py_DECREF(items);
    return NULL;
}

/* The payload's reader: marshal's format (version 4) for what payloads hold (a tuple of None,
   bools, ints, floats, str and bytes, with its references), read into ``values`` without the
   tuple and the reference list ``marshal.loads`` makes per call. Anything else, and any
   doubt, is left to ``PyMarshal_ReadObjectFromString``. */
#define MAX_REFS 64
typedef struct {
    const unsigned char *at, *end;
    PyObject *refs[MAX_REFS];
    int refs_count;
} Reader;

static uint32_t read_u32(Reader *r) {
    const unsigned char *p = r->at;
    r->at += 4;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* One value (a new reference), or NULL where marshal.loads should read the payload (an
   error then is cleared: that reading decides). */
static PyObject *read_value(Reader *r) {
    if (r->end - r->at < 1) return NULL;
    int code = *r->at++, flag = code & 0x80;
    Py_ssize_t size;
    PyObject *value;
    switch (code & 0x7f) {
    case 'N': value = Py_NewRef(Py_None); break;
    case 'T': value = Py_NewRef(Py_True); break;
    case 'F': value = Py_NewRef(Py_False); break;
    case 'i':
        if (r->end - r->at < 4) return NULL;
        value = PyLong_FromLong((int32_t)read_u32(r));
        break;
    case 'l': {  /* digits of 15 bits, least significant first; up to 4 (60 bits) here */
        if (r->end - r->at < 4) return NULL;
        int32_t digits = (int32_t)read_u32(r);
        int negative = digits < 0, count = negative ? -digits : digits;
        if (count < 1 || count > 4 || r->end - r->at < 2 * count) return NULL;
        unsigned long long magnitude = 0;
        for (int i = 0; i < count; i++) {
            unsigned int digit = r->at[2 * i] | r->at[2 * i + 1] << 8;
            if (digit >= 1u << 15 || (i == count - 1 && digit == 0)) return NULL;
            magnitude |= (unsigned long long)digit << (15 * i);
        }
        r->at += 2 * count;
        value = PyLong_FromLongLong(negative ? -(long long)magnitude : (long long)magnitude);
        break;
    }
    case 'g':
        if (r->end - r->at < 8) return NULL;
        value = PyFloat_FromDouble(PyFloat_Unpack8((const char *)r->at, 1));
        r->at += 8;
        break;
    case 'z': case 'Z': case 'a': case 'A':
        if ((code & 0x7f) == 'z' || (code & 0x7f) == 'Z') {
            if (r->end - r->at < 1) return NULL;
            size = *r->at++;
        } else {
            if (r->end - r->at < 4) return NULL;
            size = read_u32(r);
        }
        if (r->end - r->at < size) return NULL;
        value = PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, r->at, size);
        r->at += size;
        if (value != NULL && ((code & 0x7f) == 'Z' || (code & 0x7f) == 'A'))
            PyUnicode_InternInPlace(&value);
        break;
    case 'u': case 't': case 's':
        if (r->end - r->at < 4) return NULL;
        size = read_u32(r);
        if (r->end - r->at < size) return NULL;
        if ((code & 0x7f) == 's')
            value = PyBytes_FromStringAndSize((const char *)r->at, size);
        else
            value = PyUnicode_DecodeUTF8((const char *)r->at, size, "surrogatepass");
        r->at += size;
        if (value != NULL && (code & 0x7f) == 't') PyUnicode_InternInPlace(&value);
        break;
    case 'r': {
        if (flag || r->end - r->at < 4) return NULL;
        uint32_t index = read_u32(r);
        if (index >= (uint32_t)r->refs_count || r->refs[index] == NULL) return NULL;
        return Py_NewRef(r->refs[index]);
    }
    default:
        return NULL;
    }
    if (value == NULL) { PyErr_Clear(); return NULL; }
    if (flag) {
        if (r->refs_count == MAX_REFS) { Py_DECREF(value); return NULL; }
        r->refs[r->refs_count++] = Py_NewRef(value);
    }
    return value;
}

/* The payload tuple's items into ``values`` (new references); their count, or -1 where
   marshal.loads should read it. */
static Py_ssize_t read_payload(const char *data, const char *end, PyObject **values) {
    Reader r = {(const unsigned char *)data, (const unsigned char *)end, {NULL}, 0};
    if (r.end - r.at < 2) return -1;
    int code = *r.at++;
    Py_ssize_t size, done = 0;
    if ((code & 0x7f) == ')') {
        size = *r.at++;
    } else if ((code & 0x7f) == '(' && r.end - r.at >= 4) {
        size = read_u32(&r);
    } else {
        return -1;
    }
    if (code & 0x80) r.refs[r.refs_count++] = NULL;  /* the tuple itself: never referenced here */
    if (size > MAX_FIELDS + 1) size = -1;
    for (; done < size; done++)
        if ((values[done] = read_value(&r)) == NULL) break;
    for (int i = 0; i < r.refs_count; i++) Py_XDECREF(r.refs[i]);
    if (done == size) return size;
    for (Py_ssize_t i = 0; i < done; i++) Py_DECREF(values[i]);
    return -1;
}

/* decode_block(items, shapes) -> list[dict] | None

   ``shapes[number]`` is ``(names, kinds)`` for a shape encoded as above, or None. */
static PyObject *decode_block(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyList_CheckExact(args[0]) || !PyList_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "decode_block(items: list, shapes: list)");
        return NULL;
    }
    PyObject *items = args[0], *shapes = args[1];
    Py_ssize_t items_count = PyList_GET_SIZE(items), shapes_count = PyList_GET_SIZE(shapes);
    PyObject *rows = PyList_New(items_count);
    if (rows == NULL) return NULL;
    PyObject *values[MAX_FIELDS + 1];  /* the shape's number, then the fields' values */
    Py_ssize_t size = 0;
    for (Py_ssize_t r = 0; r < items_count; r++) {
        PyObject *item = PyList_GET_ITEM(items, r);
        if (!PyBytes_CheckExact(item)) goto other;
        const char *data = PyBytes_AS_STRING(item), *end = data + PyBytes_GET_SIZE(item), *at = data;
        for (;;) {  /* the first NUL NUL */
            at = memchr(at, 0, end - at);
            if (at == NULL || at + 1 >= end) goto other;
            if (at[1] == 0) break;
            at++;
        }
        at += 2;
        size = read_payload(at, end, values);
        if (size < 0) {
            PyObject *payload = PyMarshal_ReadObjectFromString(at, end - at);
            if (payload == NULL) { PyErr_Clear(); goto other; }
            size = PyTuple_CheckExact(payload) ? PyTuple_GET_SIZE(payload) : 0;
            if (size > MAX_FIELDS + 1) size = 0;
            for (Py_ssize_t i = 0; i < size; i++) values[i] = Py_NewRef(PyTuple_GET_ITEM(payload, i));
            Py_DECREF(payload);
        }
        if (size < 1 || !PyLong_CheckExact(values[0])) goto other_values;
        Py_ssize_t number = PyLong_AsSsize_t(values[0]);
        if (number < 0 || number >= shapes_count) { PyErr_Clear(); goto other_values; }
        PyObject *shape = PyList_GET_ITEM(shapes, number);
        if (shape == Py_None) goto other_values;
        PyObject *names = PyTuple_GET_ITEM(shape, 0);
        const char *kind = PyBytes_AS_STRING(PyTuple_GET_ITEM(shape, 1));
        Py_ssize_t count = PyTuple_GET_SIZE(names);
        if (size != count + 1) goto other_values;
        PyObject *row = new_row(count);
        if (row == NULL) goto error_values;
        PyList_SET_ITEM(rows, r, row);
        for (Py_ssize_t f = 0; f < count; f++) {
            PyObject *value = values[f + 1], *decoded;
            if (value == Py_None || kind[f] == 'p')
                decoded = Py_NewRef(value);
            else if (kind[f] == 'd')
                decoded = PyUnicode_CheckExact(value) ? PyObject_CallOneArg(decimal_type, value) : NULL;
            else
                decoded = from_ordinal(value);
            if (decoded == NULL) {
                if (PyErr_Occurred()) goto error_values;
                goto other_values;  /* not what the encoder writes: Python decides */
            }
            int failed = PyDict_SetItem(row, PyTuple_GET_ITEM(names, f), decoded);
            Py_DECREF(decoded);
            if (failed) goto error_values;
        }
        for (Py_ssize_t i = 0; i < size; i++) Py_DECREF(values[i]);
    }
    return rows;
other_values:
    for (Py_ssize_t i = 0; i < size; i++) Py_DECREF(values[i]);
other:
    Py_DECREF(rows);
    Py_RETURN_NONE;
error_values:
    for (Py_ssize_t i = 0; i < size; i++) Py_DECREF(values[i]);
    Py_DECREF(rows);
    return NULL;
}

static PyMethodDef methods[] = {
    {"encode_block", (PyCFunction)(void (*)(void))encode_block, METH_FASTCALL,
     "encode_block(rows, start, names, kinds, key, number) -> list[bytes] | None"},
    {"decode_block", (PyCFunction)(void (*)(void))decode_block, METH_FASTCALL,
     "decode_block(items, shapes) -> list[dict] | None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_sortitems_c", "Sort items in C (see _sortitems).", -1, methods,
};

PyMODINIT_FUNC PyInit__sortitems_c(void) {
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL) return NULL;
    PyObject *decimal = PyImport_ImportModule("decimal");
    if (decimal == NULL) return NULL;
    decimal_type = PyObject_GetAttrString(decimal, "Decimal");
    Py_DECREF(decimal);
    if (decimal_type == NULL) return NULL;
    return PyModule_Create(&module_def);
}
