// myelin.h and an exported model's header compile warning-free as C++17:
//   c++ -std=c++17 -Wall -Wextra -Werror -c header_check.cpp
#include <array>
#include <cstddef>
#include <cstdint>

#include "myelin.h"
#include "net.h"

static_assert(sizeof(myelin_status) == sizeof(int), "myelin_status is a C int enum");

// Every function called with the types a C++ caller has.
int header_check_cpp();
int header_check_cpp() {
    static std::array<std::uint8_t, NET_ARENA_SIZE> arena;
    static std::array<std::int8_t, NET_INPUT_SIZE> x;
    static std::array<std::int8_t, NET_OUTPUT_SIZE> y;
    static std::array<float, NET_INPUT_SIZE> fx;
    static std::array<float, NET_OUTPUT_SIZE> fy;
    std::size_t v = 0;
    float scale = 0.0f;
    std::int8_t zp = 0;
    myelin_dtype d = NET_DTYPE;
    int sum = static_cast<int>(MYELIN_ABI_VERSION);
    sum += myelin_check(net_model, NET_MODEL_SIZE);
    sum += myelin_arena_size(net_model, NET_MODEL_SIZE, &v);
    sum += myelin_input_size(net_model, NET_MODEL_SIZE, &v);
    sum += myelin_output_size(net_model, NET_MODEL_SIZE, &v);
    sum += myelin_model_dtype(net_model, NET_MODEL_SIZE, &d);
    sum += myelin_input_quant(net_model, NET_MODEL_SIZE, &scale, &zp);
    sum += myelin_output_quant(net_model, NET_MODEL_SIZE, &scale, &zp);
    sum += myelin_run_int8(net_model, NET_MODEL_SIZE, x.data(), x.size(), y.data(), y.size(),
                           arena.data(), arena.size());
    sum += myelin_run_f32(net_model, NET_MODEL_SIZE, fx.data(), fx.size(), fy.data(), fy.size(),
                          arena.data(), arena.size());
    sum += myelin_status_name(MYELIN_OK)[0];
    return sum + static_cast<int>(d) + static_cast<int>(v) + zp;
}
