/* The hot loop of rawheader._parse in C: walk the top-level elements of a little-endian DICOM data set.
 *
 * walk(data, p, explicit, keys, kinds, values, present) -> int
 *
 * Starting at offset p of the bytes `data`, step over the plain elements (a defined length, a valid VR in an
 * explicit VR data set, the whole value at hand) and keep the wanted ones: for an element whose tag is asked for
 * with kind _WANTED (2) in `kinds` (swapped tag -> (kind, tag), as rawheader._kinds builds it),
 * values[tag] = (vr bytes, or b"" in an implicit VR data set; the value bytes) and present.add(tag).
 * `keys` holds the swapped tags of `kinds` as sorted little-endian 32-bit numbers (a binary search decides whether
 * an element is asked for before any Python object is made).
 *
 * Returns the offset of the first element it did not take: fewer than 12 bytes left, a pixel tag or a sequence
 * asked for, an item tag (group 0xFFFE), bytes that are no VR, an undefined length, a value running past the bytes
 * at hand. rawheader._parse handles that one element as it would without this module and calls walk again, so
 * the result is the pure-Python loop's, element for element (tests/core/test_rawheader_walk.py compares both on
 * every file of the test data).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t rd32(const unsigned char *b) {
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}

static inline uint16_t rd16(const unsigned char *b) { return (uint16_t)(b[0] | (b[1] << 8)); }

static int is_long_vr(unsigned char a, unsigned char b) {
    /* OB OD OF OL OV OW SQ UC UN UR UT SV UV: a 32-bit length (rawheader.LONG_VRS) */
    switch (a) {
    case 'O':
        return b == 'B' || b == 'D' || b == 'F' || b == 'L' || b == 'V' || b == 'W';
    case 'S':
        return b == 'Q' || b == 'V';
    case 'U':
        return b == 'C' || b == 'N' || b == 'R' || b == 'T' || b == 'V';
    default:
        return 0;
    }
}

/* The value start and length of an explicit VR element header at e (offset p): a 32-bit length after two reserved
 * bytes for a long VR, else a 16-bit length (the VR already checked to be two capital letters). */
static inline void explicit_header(const unsigned char *e, Py_ssize_t p, Py_ssize_t *start, uint32_t *length) {
    if (is_long_vr(e[4], e[5])) {
        *start = p + 12;
        *length = rd32(e + 8);
    } else {
        *start = p + 8;
        *length = rd16(e + 6);
    }
}

static int has_key(const unsigned char *keys, Py_ssize_t n, uint32_t key) {
    Py_ssize_t lo = 0, hi = n - 1;
    while (lo <= hi) {
        Py_ssize_t mid = (lo + hi) >> 1;
        uint32_t k = rd32(keys + 4 * mid);
        if (k == key)
            return 1;
        if (k < key)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return 0;
}

/* The 2-byte VR objects, made once per VR met (an explicit VR is two capital letters) and kept for the life of the
 * process (module-level state: this module has no per-interpreter state and is not meant for subinterpreters). */
static PyObject *vr_objects[26 * 26];

static PyObject *vr_object(unsigned char a, unsigned char b) {
    PyObject **slot = &vr_objects[(a - 'A') * 26 + (b - 'A')];
    if (*slot == NULL) {
        char s[2] = {(char)a, (char)b};
        *slot = PyBytes_FromStringAndSize(s, 2);
    }
    return *slot;
}

static PyObject *empty_vr;

static PyObject *walk(PyObject *self, PyObject *args) {
    Py_buffer data, keys;
    Py_ssize_t p;
    int explicit_vr;
    PyObject *kinds, *values, *present;
    if (!PyArg_ParseTuple(args, "y*npy*O!O!O!", &data, &p, &explicit_vr, &keys, &PyDict_Type, &kinds, &PyDict_Type,
                          &values, &PySet_Type, &present))
        return NULL;
    const unsigned char *d = (const unsigned char *)data.buf;
    const unsigned char *kb = (const unsigned char *)keys.buf;
    Py_ssize_t n = data.len, nkeys = keys.len / 4;
    PyObject *result = NULL;
    while (p >= 0 && p + 12 <= n) { /* (a negative p is returned as it is: rawheader never passes one) */
        const unsigned char *e = d + p;
        uint32_t swapped = rd32(e);
        uint16_t group = (uint16_t)(swapped & 0xFFFF);
        Py_ssize_t start;
        uint32_t length;
        if (group == 0xFFFE)
            break; /* an item tag at the top level: rawheader decides (it is unsupported there) */
        if (explicit_vr) {
            unsigned char a = e[4], b = e[5];
            if (a < 'A' || a > 'Z' || b < 'A' || b > 'Z')
                break;
            explicit_header(e, p, &start, &length);
        } else {
            start = p + 8;
            length = rd32(e + 4);
        }
        if (length == 0xFFFFFFFFu)
            break;
        /* (the value runs past the bytes at hand, or start + length would overflow a 32-bit Py_ssize_t) */
        int past = (uint64_t)length > (uint64_t)(n - start);
        Py_ssize_t end = past ? n + 1 : start + (Py_ssize_t)length;
        if (nkeys > 0 && has_key(kb, nkeys, swapped)) {
            PyObject *key = PyLong_FromUnsignedLong(swapped);
            if (key == NULL)
                goto done;
            PyObject *kind = PyDict_GetItemWithError(kinds, key); /* borrowed */
            Py_DECREF(key);
            if (kind == NULL) {
                if (PyErr_Occurred())
                    goto done;
                break; /* keys and kinds disagree: let rawheader decide */
            }
            if (!PyTuple_Check(kind) || PyTuple_GET_SIZE(kind) != 2)
                break;
            long what = PyLong_AsLong(PyTuple_GET_ITEM(kind, 0));
            if (what == -1 && PyErr_Occurred())
                goto done;
            if (what != 2 || past)
                break; /* pixel data, a sequence asked for, or a value past the bytes at hand */
            PyObject *tag = PyTuple_GET_ITEM(kind, 1);
            PyObject *vr = explicit_vr ? vr_object(e[4], e[5]) : empty_vr;
            if (vr == NULL)
                goto done;
            PyObject *value = PyBytes_FromStringAndSize((const char *)d + start, (Py_ssize_t)length);
            if (value == NULL)
                goto done;
            PyObject *pair = PyTuple_Pack(2, vr, value);
            Py_DECREF(value);
            if (pair == NULL)
                goto done;
            int bad = PyDict_SetItem(values, tag, pair) < 0 || PySet_Add(present, tag) < 0;
            Py_DECREF(pair);
            if (bad)
                goto done;
        }
        if (past)
            break; /* an element not kept whose value runs past the bytes at hand: rawheader reads further */
        p = end;
    }
    result = PyLong_FromSsize_t(p);
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&keys);
    return result;
}


/* meta(data, p) -> (end, transfer syntax bytes or None) | None
 *
 * The file meta group (0002) of an explicit VR little endian header from offset p: the offset of the first element
 * of another group and the raw TransferSyntaxUID value (the last one met). None when the group is not plain (an
 * undefined length, bytes that are no VR, the group running past the bytes at hand): rawheader reads it then.
 */
static PyObject *meta(PyObject *self, PyObject *args) {
    Py_buffer data;
    Py_ssize_t p;
    if (!PyArg_ParseTuple(args, "y*n", &data, &p))
        return NULL;
    const unsigned char *d = (const unsigned char *)data.buf;
    Py_ssize_t n = data.len, ts_at = -1, ts_len = 0;
    PyObject *result = NULL;
    int plain = 0;
    while (p >= 0 && p + 12 <= n) {
        const unsigned char *e = d + p;
        if (rd16(e) != 0x0002) {
            plain = 1;
            break;
        }
        unsigned char a = e[4], b = e[5];
        if (a < 'A' || a > 'Z' || b < 'A' || b > 'Z')
            break;
        Py_ssize_t start;
        uint32_t length;
        explicit_header(e, p, &start, &length);
        if (length == 0xFFFFFFFFu || (uint64_t)length > (uint64_t)(n - start))
            break;
        if (rd16(e + 2) == 0x0010) {
            ts_at = start;
            ts_len = (Py_ssize_t)length;
        }
        p = start + (Py_ssize_t)length;
    }
    if (!plain) {
        Py_INCREF(Py_None);
        result = Py_None;
    } else if (ts_at < 0) {
        result = Py_BuildValue("(nO)", p, Py_None);
    } else {
        result = Py_BuildValue("(ny#)", p, (const char *)d + ts_at, ts_len);
    }
    PyBuffer_Release(&data);
    return result;
}

/* lookup(d, specs) -> (values, missed): the values of the elements of `d` remembered in per-tag memos.
 *
 * specs: a tuple of (tag, memo or None, absent). values[i] = absent when d has no element `tag`; memo[d[tag]] when
 * the memo holds that element; else None, and i is in `missed` (the caller converts the element and remembers it).
 * A memo of None is missed whenever the tag is present (a value converted for every file). This is the loop of
 * elements.memo_lookup, which runs without this module and gives the same result. */
static PyObject *lookup(PyObject *self, PyObject *args) {
    PyObject *d, *specs;
    if (!PyArg_ParseTuple(args, "O!O!", &PyDict_Type, &d, &PyTuple_Type, &specs))
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(specs);
    PyObject *values = PyList_New(n);
    PyObject *missed = PyList_New(0);
    if (values == NULL || missed == NULL)
        goto error;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *spec = PyTuple_GET_ITEM(specs, i);
        if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) != 3) {
            PyErr_SetString(PyExc_TypeError, "lookup: each spec is a (tag, memo or None, absent) tuple");
            goto error;
        }
        PyObject *memo = PyTuple_GET_ITEM(spec, 1);
        if (memo != Py_None && !PyDict_Check(memo)) {
            PyErr_SetString(PyExc_TypeError, "lookup: a memo is a dict or None");
            goto error;
        }
        PyObject *v = NULL;
        PyObject *e = PyDict_GetItemWithError(d, PyTuple_GET_ITEM(spec, 0)); /* borrowed */
        if (e == NULL) {
            if (PyErr_Occurred())
                goto error;
            v = PyTuple_GET_ITEM(spec, 2);
        } else if (memo != Py_None) {
            v = PyDict_GetItemWithError(memo, e); /* borrowed */
            if (v == NULL && PyErr_Occurred()) {
                if (!PyErr_ExceptionMatches(PyExc_TypeError)) /* an unhashable element: missed */
                    goto error;
                PyErr_Clear();
            }
        }
        if (v == NULL) {
            PyObject *index = PyLong_FromSsize_t(i);
            if (index == NULL || PyList_Append(missed, index) < 0) {
                Py_XDECREF(index);
                goto error;
            }
            Py_DECREF(index);
            v = Py_None;
        }
        Py_INCREF(v);
        PyList_SET_ITEM(values, i, v);
    }
    return Py_BuildValue("(NN)", values, missed);
error:
    Py_XDECREF(values);
    Py_XDECREF(missed);
    return NULL;
}

/* fill(obj, names, values) -> obj: object.__setattr__(obj, names[i], values[i]) for each i, in one call.
 *
 * The generic attribute assignment (PyObject_GenericSetAttr, what object.__setattr__ does), the way the __init__
 * of a frozen dataclass sets each field past its own __setattr__; frame.build_raw_frame fills a new Frame with it
 * instead of calling Frame(...) (which sets its 27 fields one Python call each). Without this module the frame is
 * made by Frame(*values), the same object. */
static PyObject *fill(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyTuple_Check(args[1]) || !PyTuple_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "fill(obj, names, values): names and values are tuples");
        return NULL;
    }
    PyObject *obj = args[0], *names = args[1], *values = args[2];
    Py_ssize_t n = PyTuple_GET_SIZE(names);
    if (PyTuple_GET_SIZE(values) != n) {
        PyErr_SetString(PyExc_ValueError, "fill: as many values as names");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (PyObject_GenericSetAttr(obj, PyTuple_GET_ITEM(names, i), PyTuple_GET_ITEM(values, i)) < 0)
            return NULL;
    }
    Py_INCREF(obj);
    return obj;
}

static PyMethodDef methods[] = {
    {"walk", walk, METH_VARARGS,
     "walk(data, p, explicit, keys, kinds, values, present) -> int: step over the plain top-level elements from p, "
     "keep the wanted ones; the offset of the first element not taken."},
    {"meta", meta, METH_VARARGS,
     "meta(data, p) -> (end, transfer syntax bytes or None) | None: the plain file meta group from p."},
    {"lookup", lookup, METH_VARARGS,
     "lookup(d, specs) -> (values, missed): the values of d's elements remembered in per-tag memos (see "
     "elements.memo_lookup)."},
    {"fill", (PyCFunction)(void (*)(void))fill, METH_FASTCALL,
     "fill(obj, names, values) -> obj: object.__setattr__(obj, name, value) for each pair (see frame.build_raw_frame)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_walk", "The top-level element walk of rawheader, the memo lookups of the scan and the frame fill, in C.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__walk(void) {
    empty_vr = PyBytes_FromStringAndSize("", 0);
    if (empty_vr == NULL)
        return NULL;
    return PyModule_Create(&module);
}
