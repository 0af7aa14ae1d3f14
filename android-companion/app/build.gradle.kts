// Platform API only (no AndroidX): Camera2, MediaCodec, MediaExtractor. The protocol package
// has no android.* imports; its JUnit tests read ../docs/protocol-golden.txt like the Rust tests.
plugins {
    id("com.android.application")
}

android {
    namespace = "studio.stronglive.companion"
    compileSdk = 34
    defaultConfig {
        applicationId = "studio.stronglive.companion"
        minSdk = 23
        targetSdk = 34
        versionCode = 1
        versionName = "0.1.0"
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_1_8
        targetCompatibility = JavaVersion.VERSION_1_8
    }
    testOptions {
        unitTests.all {
            it.systemProperty("golden", rootProject.file("../docs/protocol-golden.txt").path)
            // InteropTest needs a built desktop binary; without it, run only ProtocolTest.
            it.systemProperty("stronglive.bin", System.getenv("STRONGLIVE_BIN") ?: "stronglive")
            it.systemProperty("h264", System.getenv("STRONGLIVE_TEST_H264") ?: "")
        }
    }
}

dependencies {
    testImplementation("junit:junit:4.13.2")
}
