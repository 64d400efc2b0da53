//! Fixed-size layers typed by shape (const generics) that call the kernels.
