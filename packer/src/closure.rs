//! Production dependency closure (to be written).
